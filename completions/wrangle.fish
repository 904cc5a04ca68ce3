# fish completion for wrangle(1)
#
# Install as ~/.config/fish/completions/wrangle.fish (or in the vendor completions folder).
# Entry names, tags and groups come from the running daemon (`wrangle ls --names`, `wrangle tag
# -q`, `wrangle group -q`) with WRANGLE_NO_AUTOSTART=1, so completing never starts a daemon.
# Each line they print is one candidate, taken as text (a command substitution's output is
# never expanded again) and escaped by fish when inserted: a `$(...)` in a tag stays text.

set -l __wrangle_commands run ls status start stop restart rm signal attach send resize logs events wait \
    add label tag group prune reset tree ping shutdown upgrade up down save resurrect daemon startup unstartup \
    edit mcp screen top

# Options that take a value: the word after them is not a positional argument. (`run --stdout`
# and `--stderr` take one too, but `logs --stdout` and `--stderr` do not; only `run --` matters
# after `run`, so they are left out. `-f` takes one for `up` and `down` only: for `logs` it is
# --follow.)
set -g __wrangle_value_flags --socket --name --tag --tag-all --group --group-all --pid --id \
    --state --search --cwd --env --env-file --stop-signal --stop-timeout --log-max-size --log-keep \
    --timeout -n --lines --grep -C --context -A --after -B --before --head --run --since --type \
    --originator --add-tag --rm-tag --add-group --rm-group --rename --older-than --confirm \
    --size --stdin --restart --max-restarts --backoff --min-uptime --leftovers --detach-key \
    --profile --log --port --file --format --scrollback --screen --cmd --unset-env

# Prints the subcommand, then its positional arguments before the cursor, one per line.
# The global `--socket PATH` before the subcommand is skipped.
function __wrangle_words
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    set -l found 0
    set -l sub
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        if test $found = 1; and test "$w" = --
            # Everything after `run --` is the command line to run.
            printf "%s\n" --
            return
        end
        if contains -- $w $__wrangle_value_flags
            set skip 1
            continue
        end
        if test "$w" = -f; and contains -- "$sub" up down
            set skip 1
            continue
        end
        if string match -q -- '-*' $w
            continue
        end
        printf "%s\n" $w
        test $found = 1; or set sub $w
        set found 1
    end
end

# True when no subcommand has been given yet.
function __wrangle_needs_command
    test (count (__wrangle_words)) -eq 0
end

# True when the subcommand is one of the arguments.
function __wrangle_using
    set -l words (__wrangle_words)
    test (count $words) -gt 0; and contains -- $words[1] $argv
end

# True when the subcommand is $argv[1] and it has exactly $argv[2] positional arguments so far.
function __wrangle_at
    set -l words (__wrangle_words)
    test (count $words) -gt 0; and test $words[1] = $argv[1]
    and test (math (count $words) - 1) -eq $argv[2]
end

# True after `run ... --`.
function __wrangle_after_dashdash
    set -l words (__wrangle_words)
    test (count $words) -gt 0; and test $words[1] = run; and contains -- -- $words
end

# The --socket given before the subcommand, as arguments for wrangle.
function __wrangle_socket_args
    set -l words (commandline -opc)
    for i in (seq 2 (count $words))
        if test "$words[$i]" = --socket
            set -l next (math $i + 1)
            if test $next -le (count $words)
                printf '%s\n' --socket $words[$next]
            end
            return
        end
        string match -q -- '-*' $words[$i]; or return
    end
end

# The names of the running daemon's entries (ids for unnamed ones); then `all` unless
# the argument is "noall".
function __wrangle_entries
    set -lx WRANGLE_NO_AUTOSTART 1
    command wrangle (__wrangle_socket_args) ls --names 2>/dev/null
    contains -- noall $argv; or echo all
end

# Completes the command line after `run ... --` as if it were typed on its own.
function __wrangle_complete_command
    set -l words (commandline -opc) (commandline -ct)
    set -l i (contains -i -- -- $words)
    __fish_complete_subcommand --commandline $words[(math $i + 1)..-1]
end

# The tags (argument "tag") or groups (argument "group") in use.
function __wrangle_labels
    set -lx WRANGLE_NO_AUTOSTART 1
    command wrangle (__wrangle_socket_args) $argv[1] -q 2>/dev/null
end

# Keys for `attach --detach-key`.
function __wrangle_detach_keys
    printf '%s\n' ctrl-\\\t'The default' ctrl-{a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z} 'ctrl-]' \
        none\t'No detach key (Enter ~ . still detaches)'
end

function __wrangle_signals
    printf '%s\n' HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT \
        CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS
end

complete -c wrangle -f

# Global options and subcommands.
complete -c wrangle -n __wrangle_needs_command -l socket -r -F -d 'Talk to the daemon on this socket'
complete -c wrangle -n __wrangle_needs_command -s V -l version -d 'Print the version and exit'
complete -c wrangle -n 'not __wrangle_after_dashdash' -l help -d 'Display usage information'
complete -c wrangle -n __wrangle_needs_command -a run -d 'Start a new entry running a command'
complete -c wrangle -n __wrangle_needs_command -a ls -d 'List entries'
complete -c wrangle -n __wrangle_needs_command -a status -d 'Show everything about an entry'
complete -c wrangle -n __wrangle_needs_command -a start -d 'Start stopped or ended entries again'
complete -c wrangle -n __wrangle_needs_command -a stop -d 'Stop entries and their process tree'
complete -c wrangle -n __wrangle_needs_command -a restart -d 'Stop entries, then start them again'
complete -c wrangle -n __wrangle_needs_command -a rm -d 'Stop if needed, then forget entries'
complete -c wrangle -n __wrangle_needs_command -a signal -d "Send a signal to an entry's process"
complete -c wrangle -n __wrangle_needs_command -a attach -d "See an entry's output live and type into it"
complete -c wrangle -n __wrangle_needs_command -a send -d "Write text or standard input to an entry's input"
complete -c wrangle -n __wrangle_needs_command -a resize -d "Set a terminal entry's window size"
complete -c wrangle -n __wrangle_needs_command -a screen -d "Print the current screen of a terminal entry"
complete -c wrangle -n __wrangle_needs_command -a logs -d "Print, search or follow an entry's output"
complete -c wrangle -n __wrangle_needs_command -a events -d 'Print lifecycle events as they happen'
complete -c wrangle -n __wrangle_needs_command -a wait -d 'Wait for an entry to end or to be ready'
complete -c wrangle -n __wrangle_needs_command -a add -d 'Adopt a running process as an entry'
complete -c wrangle -n __wrangle_needs_command -a label -d "Change entries' tags, groups or name"
complete -c wrangle -n __wrangle_needs_command -a edit -d "Change entries' specs, keeping ids, labels and logs"
complete -c wrangle -n __wrangle_needs_command -a tag -d 'List tags, or the entries carrying one; rename one'
complete -c wrangle -n __wrangle_needs_command -a group -d 'List groups, or the entries in one; rename one'
complete -c wrangle -n __wrangle_needs_command -a prune -d 'Forget ended entries and their logs'
complete -c wrangle -n __wrangle_needs_command -a reset -d 'Stop everything, forget every entry, ids from 1'
complete -c wrangle -n __wrangle_needs_command -a tree -d "Draw an entry's process tree"
complete -c wrangle -n __wrangle_needs_command -a ping -d 'Tell whether the daemon is up'
complete -c wrangle -n __wrangle_needs_command -a shutdown -d 'Stop every owned process and the daemon'
complete -c wrangle -n __wrangle_needs_command -a top -d 'A full-screen live dashboard'
complete -c wrangle -n __wrangle_needs_command -a upgrade -d 'Replace the daemon, disturbing no process'
complete -c wrangle -n '__wrangle_using upgrade' -l binary -r -F -d 'The binary to run'
complete -c wrangle -n '__wrangle_using upgrade' -l json -d 'Print JSON'
complete -c wrangle -n __wrangle_needs_command -a up -d 'Create or update the services of wrangle.json and start them'
complete -c wrangle -n __wrangle_needs_command -a down -d 'Stop and remove the services of wrangle.json'
complete -c wrangle -n __wrangle_needs_command -a save -d 'Record what should be running'
complete -c wrangle -n __wrangle_needs_command -a resurrect -d 'Start what was saved and is not running'
complete -c wrangle -n __wrangle_needs_command -a daemon -d 'Run the daemon in the foreground'
complete -c wrangle -n __wrangle_needs_command -a startup -d 'Print or install the unit that starts the saved set at boot'
complete -c wrangle -n __wrangle_needs_command -a unstartup -d 'Remove what startup --install installed'
complete -c wrangle -n __wrangle_needs_command -a mcp -d 'Serve the Model Context Protocol to AI agents'

# Selector filters: every command that takes SEL (label uses --name for a new name).
set -l sel 'not __wrangle_after_dashdash; and __wrangle_using ls status start stop restart rm signal attach send resize logs events wait label tree screen edit'
complete -c wrangle -n $sel -l tag -x -a '(__wrangle_labels tag)' -d 'Entries carrying any of these tags'
complete -c wrangle -n $sel -l tag-all -x -a '(__wrangle_labels tag)' -d 'Entries carrying all of these tags'
complete -c wrangle -n $sel -l group -x -a '(__wrangle_labels group)' -d 'Entries in any of these groups'
complete -c wrangle -n $sel -l group-all -x -a '(__wrangle_labels group)' -d 'Entries in all of these groups'
complete -c wrangle -n $sel -l pid -x -d 'The entry whose process has this pid'
complete -c wrangle -n $sel -l id -x -d 'The entry with this id'
complete -c wrangle -n "$sel; and not __wrangle_using label" -l name -x -a '(__wrangle_entries noall)' -d 'The entry with this name'
complete -c wrangle -n $sel -l state -x -a 'starting running stopping stopped exited backoff errored' -d 'Entries in this state'
complete -c wrangle -n $sel -l search -x -d 'Entries whose command line contains this text'
complete -c wrangle -n $sel -l originator -x -d 'Entries created by this client, e.g. wrangle-cli'
complete -c wrangle -n $sel -l alive -d 'Entries whose process is alive'
complete -c wrangle -n $sel -l all -d 'Allow acting on several entries'

# --json, where a command prints data.
complete -c wrangle -n 'not __wrangle_after_dashdash; and __wrangle_using run ls status start stop restart rm signal logs events wait add label tag group prune ping up down save resurrect screen edit' -l json -d 'Print JSON'

# run
set -l run 'not __wrangle_after_dashdash; and __wrangle_using run'
complete -c wrangle -n $run -l name -x -d 'Name the entry'
complete -c wrangle -n $run -l tag -x -d 'Give the entry a tag'
complete -c wrangle -n $run -l group -x -d 'Put the entry in a group'
complete -c wrangle -n $run -l cwd -x -a '(__fish_complete_directories)' -d 'Run the process in this folder'
complete -c wrangle -n $run -l env -x -a '(set -xn | string replace -r \'$\' =)' -d 'Set an environment variable (K=V)'
complete -c wrangle -n $run -l env-file -r -F -d 'Read environment variables from a dotenv file'
complete -c wrangle -n $run -l clear-env -d 'Start from an empty environment'
complete -c wrangle -n $run -l shell -d 'Run the command through sh -c'
complete -c wrangle -n $run -l stop-signal -x -a '(__wrangle_signals)' -d 'Signal sent first by stop'
complete -c wrangle -n $run -l stop-timeout -x -d 'How long stop waits before KILL'
complete -c wrangle -n $run -l pty -d 'Run it on a pseudo-terminal'
complete -c wrangle -n $run -l size -x -d "The terminal's size as ROWSxCOLS (with --pty)"
complete -c wrangle -n $run -l stdin -r -F -a "null\t/dev/null stream\t'A pipe fed by send and attach'" -d 'Where standard input comes from'
complete -c wrangle -n $run -l stdout -r -F -a "log\t'The log (default)' null\t/dev/null" -d 'Where standard output goes'
complete -c wrangle -n $run -l stderr -r -F -a "log\t'The log (default)' null\t/dev/null stdout\t'Merged into standard output'" -d 'Where standard error goes'
complete -c wrangle -n $run -l attach -d 'Attach to it right away'
complete -c wrangle -n $run -l wait -d 'Show its output, wait for it to end, exit with its code'
complete -c wrangle -n $run -l restart -x -a "never\t'Default' on-failure\t'Unless it exits 0' always" -d 'Restart it when it ends by itself'
complete -c wrangle -n $run -l max-restarts -x -d 'Give up after this many restarts in a row (0: never)'
complete -c wrangle -n $run -l backoff -x -d 'Restart delays as INITIAL[,FACTOR[,MAX]], e.g. 1s,2,1m'
complete -c wrangle -n $run -l min-uptime -x -d 'A run this long resets the restart count'
complete -c wrangle -n $run -l leftovers -x -a "stop\t'Default: stop them with the run' keep\t'Left running, still owned by the entry'" -d 'What happens to processes left when the main process ends'
complete -c wrangle -n $run -l log-max-size -x -d 'Rotate the log at this size, e.g. 10M (0: never)'
complete -c wrangle -n $run -l log-keep -x -d 'Rotated log segments kept per run'
complete -c wrangle -n $run -l scrollback -x -d "Lines of scrollback the terminal's screen keeps"
complete -c wrangle -n $run -a -- -d 'Then the command to run'
# After `run --`: the command and its arguments, completed as if typed on their own.
complete -c wrangle -n __wrangle_after_dashdash -x -a '(__wrangle_complete_command)'

# ls
complete -c wrangle -n '__wrangle_using ls' -s q -l quiet -d 'Print ids only'
complete -c wrangle -n '__wrangle_using ls' -l names -d 'Print names only (ids for unnamed entries)'
complete -c wrangle -n '__wrangle_using ls' -l wide -d 'Add tags, groups, originator, cwd and title'
complete -c wrangle -n '__wrangle_using ls' -l sort -x -a 'id name cpu mem uptime restarts' -d 'Order of the entries'
complete -c wrangle -n '__wrangle_using ls' -l color -x -a 'auto always never' -d 'Colour states'
complete -c wrangle -n '__wrangle_using logs' -l color -x -a 'auto always never' -d 'Colour the name prefixes of several entries'
complete -c wrangle -n '__wrangle_using ls' -l width -x -d 'Cut lines to this many columns (0: never)'
complete -c wrangle -n '__wrangle_using ls' -a '(__wrangle_entries)'

# status, start, stop, restart, rm, events, logs: any number of SEL; wait, attach, send,
# resize: one entry
complete -c wrangle -n '__wrangle_using status start stop restart rm events logs' -a '(__wrangle_entries)'
complete -c wrangle -n '__wrangle_at wait 0' -a '(__wrangle_entries noall)'
complete -c wrangle -n '__wrangle_at attach 0; or __wrangle_at send 0; or __wrangle_at resize 0' -a '(__wrangle_entries noall)'
complete -c wrangle -n '__wrangle_using status' -l show-env -d 'Show the values of secret-looking variables'
complete -c wrangle -n '__wrangle_using status logs events' -l utc -d 'Show times in UTC rather than local time'
complete -c wrangle -n '__wrangle_using stop' -l timeout -x -d 'Send KILL after this long'
complete -c wrangle -n '__wrangle_using wait' -l timeout -x -d 'Give up after this long (exit 124)'
complete -c wrangle -n '__wrangle_using wait' -l log -x -d 'Wait for a line of the current run matching this regex'
complete -c wrangle -n '__wrangle_using wait' -l port -x -d 'Wait until one of its processes listens on this TCP port'
complete -c wrangle -n '__wrangle_using wait' -l ready -d 'Wait until it is ready as its services file declares'
complete -c wrangle -n '__wrangle_using wait' -l screen -x -d "Wait until the terminal's screen shows a match of this regex"
complete -c wrangle -n '__wrangle_using restart' -l profile -x -a "base\t'The base spec'" -d 'Switch services to this profile of their services file'

# signal SIG SEL
complete -c wrangle -n '__wrangle_at signal 0' -a '(__wrangle_signals)' -d Signal
complete -c wrangle -n '__wrangle_using signal; and not __wrangle_at signal 0' -a '(__wrangle_entries)'

# logs
complete -c wrangle -n '__wrangle_using logs' -s n -l lines -x -d 'Print the last N lines (or matches)'
complete -c wrangle -n '__wrangle_using logs' -l head -x -d 'Print the first N lines (or matches)'
complete -c wrangle -n '__wrangle_using logs' -s f -l follow -d 'Keep printing new output, across restarts'
complete -c wrangle -n '__wrangle_using logs' -l stdout -d 'Only standard output'
complete -c wrangle -n '__wrangle_using logs' -l stderr -d 'Only standard error'
complete -c wrangle -n '__wrangle_using logs' -l grep -x -d 'Only lines matching this regular expression'
complete -c wrangle -n '__wrangle_using logs' -s C -l context -x -d 'Lines of context around each match'
complete -c wrangle -n '__wrangle_using logs' -s A -l after -x -d 'Lines of context after each match'
complete -c wrangle -n '__wrangle_using logs' -s B -l before -x -d 'Lines of context before each match'
complete -c wrangle -n '__wrangle_using logs' -l run -x -a "-1\t'Latest run' -2\t'Previous run' all\t'Every kept run'" -d 'Which run'
complete -c wrangle -n '__wrangle_using logs' -l timestamps -d 'Prefix each line with the time it was received'
complete -c wrangle -n '__wrangle_using logs' -l since -x -d 'Only lines received in this last span, e.g. 10m'
complete -c wrangle -n '__wrangle_using logs' -l build -d "The output of the entry's builds instead (--run picks one)"
complete -c wrangle -n '__wrangle_using logs' -l clear -d "Delete the entry's logs"

# attach SEL, send SEL [TEXT]..., resize SEL ROWSxCOLS
complete -c wrangle -n '__wrangle_using attach' -l detach-key -x -a '(__wrangle_detach_keys)' -d 'The key that detaches'
complete -c wrangle -n '__wrangle_using attach' -l read-only -d 'Only watch: do not forward the keyboard'
complete -c wrangle -n '__wrangle_using send' -s n -l no-newline -d 'Do not add a newline after the text'
complete -c wrangle -n '__wrangle_using send' -l eof -d "Close the entry's input afterwards"
complete -c wrangle -n '__wrangle_using send' -l keys -d 'The arguments are keys in tmux notation (Enter, C-c, Up, F5)'

# screen SEL
complete -c wrangle -n '__wrangle_at screen 0' -a '(__wrangle_entries noall)'
complete -c wrangle -n '__wrangle_using screen' -l format -x -a "text\t'What it shows' ansi\t'With colours' html\t'A standalone page'" -d 'How to print it'
complete -c wrangle -n '__wrangle_using screen' -l scrollback -x -d 'Also print this many lines of scrollback'

# events
complete -c wrangle -n '__wrangle_using events' -l type -x -a "status\t'Lifecycle events' log\t'Output lines' all\t'Both'" -d 'Which events'

# add PID
complete -c wrangle -n '__wrangle_using add' -l name -x -d 'Name the entry'
complete -c wrangle -n '__wrangle_using add' -l tag -x -d 'Give the entry a tag'
complete -c wrangle -n '__wrangle_using add' -l group -x -d 'Put the entry in a group'
complete -c wrangle -n '__wrangle_at add 0' -x -a '(__fish_complete_pids)'

# label SEL
complete -c wrangle -n '__wrangle_using label' -l add-tag -x -d 'Add this tag'
complete -c wrangle -n '__wrangle_using label' -l rm-tag -x -a '(__wrangle_labels tag)' -d 'Remove this tag'
complete -c wrangle -n '__wrangle_using label' -l add-group -x -d 'Add this group'
complete -c wrangle -n '__wrangle_using label' -l rm-group -x -a '(__wrangle_labels group)' -d 'Remove this group'
complete -c wrangle -n '__wrangle_using label' -l name -x -d 'Give the entry this name ("" removes it)'
complete -c wrangle -n '__wrangle_using label tree' -a '(__wrangle_entries)'
complete -c wrangle -n '__wrangle_using edit' -a '(__wrangle_entries)'
complete -c wrangle -n '__wrangle_using edit' -l cmd -x -d 'The new command, split into words'
complete -c wrangle -n '__wrangle_using edit' -l shell -x -d 'The new command, run by sh -c'
complete -c wrangle -n '__wrangle_using edit' -l env -x -d 'Set an environment variable K=V'
complete -c wrangle -n '__wrangle_using edit' -l unset-env -x -d 'Remove an environment variable'
complete -c wrangle -n '__wrangle_using edit' -l cwd -x -a '(__fish_complete_directories)' -d 'The new working folder'
complete -c wrangle -n '__wrangle_using edit' -l restart -x -a 'never on-failure always' -d 'Restart policy'
complete -c wrangle -n '__wrangle_using edit' -l max-restarts -x -d 'Give up after this many restarts in a row'
complete -c wrangle -n '__wrangle_using edit' -l backoff -x -d 'Restart delays: INITIAL[,FACTOR[,MAX]]'
complete -c wrangle -n '__wrangle_using edit' -l min-uptime -x -d 'A run this long resets the restart count'
complete -c wrangle -n '__wrangle_using edit' -l stop-signal -x -d 'The signal a stop sends first'
complete -c wrangle -n '__wrangle_using edit' -l stop-timeout -x -d 'How long a stop waits before KILL'
complete -c wrangle -n '__wrangle_using edit' -l restart-now -d 'Restart running entries now with the new spec'

# tag [TAG], group [GROUP]
complete -c wrangle -n '__wrangle_at tag 0' -a '(__wrangle_labels tag)'
complete -c wrangle -n '__wrangle_at group 0' -a '(__wrangle_labels group)'
complete -c wrangle -n '__wrangle_using tag group' -l rename -x -d 'Rename it on every entry (merging onto an existing one)'
complete -c wrangle -n '__wrangle_using tag group' -s q -l quiet -d 'Print names only (ids with a tag or group)'

# prune, reset
complete -c wrangle -n '__wrangle_using prune' -l older-than -x -d 'Only entries that ended at least this long ago'
complete -c wrangle -n '__wrangle_using reset' -l confirm -x -d 'Required: the word RESET'

# up [NAME]..., down [NAME]...: services of a services file (down: entries of the same names)
complete -c wrangle -n '__wrangle_using up down' -s f -l file -r -F -d 'The services file (default: wrangle.json, else Procfile)'
complete -c wrangle -n '__wrangle_using down' -a '(__wrangle_entries noall)'

# daemon
complete -c wrangle -n '__wrangle_using daemon' -l replace -d 'Hand a running daemon over to this binary'
complete -c wrangle -n '__wrangle_using daemon' -l detach -d 'Run in the background once it accepts connections'
complete -c wrangle -n '__wrangle_using rm' -l kill -d 'Stop processes adopted with add too'
complete -c wrangle -n '__wrangle_using save' -l force -d 'Save even when nothing runs, emptying the saved set'
complete -c wrangle -n '__wrangle_using daemon' -l resurrect -d 'Start the saved set once up (at boot)'
complete -c wrangle -n '__wrangle_using daemon' -l passthrough -d 'Also write every line of output to standard output'

# startup [SYSTEM] [--install], unstartup [SYSTEM]
complete -c wrangle -n '__wrangle_at startup 0; or __wrangle_at unstartup 0' -x -a "systemd\t'System unit' systemd-user\t'User unit' openrc sysvinit cron\t'@reboot line'"
complete -c wrangle -n '__wrangle_using startup' -l install -d 'Install and enable it (systemd, openrc and sysvinit need root)'

# mcp
set -l __wrangle_mcp_tools 'list status run start stop restart remove signal send logs wait_for up down events'
complete -c wrangle -n '__wrangle_using mcp' -l http -x -d 'Serve Streamable HTTP on this address (127.0.0.1:PORT)'
complete -c wrangle -n '__wrangle_using mcp' -l read-only -d 'Expose only the tools that change nothing'
complete -c wrangle -n '__wrangle_using mcp' -l allow -x -a "$__wrangle_mcp_tools" -d 'Expose only these tools'
complete -c wrangle -n '__wrangle_using mcp' -l deny -x -a "$__wrangle_mcp_tools" -d 'Hide these tools'
complete -c wrangle -n '__wrangle_using mcp' -l own-only -d 'Only the entries the agent started'
complete -c wrangle -n '__wrangle_using mcp' -l print-token -d 'Print the HTTP bearer token and exit'
