# fish completion for wrangle(1)
#
# Install as ~/.config/fish/completions/wrangle.fish (or in the vendor completions folder).
# Entry names come from the running daemon (`wrangle ls --names`) with WRANGLE_NO_AUTOSTART=1,
# so completing never starts a daemon.

set -l __wrangle_commands run ls status start stop restart rm signal logs wait ping shutdown daemon

# Options that take a value: the word after them is not a positional argument.
set -g __wrangle_value_flags --socket --name --tag --tag-all --group --group-all --pid --id \
    --state --search --cwd --env --env-file --stop-signal --stop-timeout --timeout -n --lines

# Prints the subcommand, then its positional arguments before the cursor, one per line.
# The global `--socket PATH` before the subcommand is skipped.
function __wrangle_words
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    set -l found 0
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
        if string match -q -- '-*' $w
            continue
        end
        printf "%s\n" $w
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

function __wrangle_signals
    printf '%s\n' HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT \
        CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS
end

complete -c wrangle -f

# Global options and subcommands.
complete -c wrangle -n __wrangle_needs_command -l socket -r -F -d 'Talk to the daemon on this socket'
complete -c wrangle -n 'not __wrangle_after_dashdash' -l help -d 'Display usage information'
complete -c wrangle -n __wrangle_needs_command -a run -d 'Start a new entry running a command'
complete -c wrangle -n __wrangle_needs_command -a ls -d 'List entries'
complete -c wrangle -n __wrangle_needs_command -a status -d 'Show everything about an entry'
complete -c wrangle -n __wrangle_needs_command -a start -d 'Start stopped or ended entries again'
complete -c wrangle -n __wrangle_needs_command -a stop -d 'Stop entries and their process tree'
complete -c wrangle -n __wrangle_needs_command -a restart -d 'Stop entries, then start them again'
complete -c wrangle -n __wrangle_needs_command -a rm -d 'Stop if needed, then forget entries'
complete -c wrangle -n __wrangle_needs_command -a signal -d "Send a signal to an entry's process"
complete -c wrangle -n __wrangle_needs_command -a logs -d "Print or follow an entry's output"
complete -c wrangle -n __wrangle_needs_command -a wait -d 'Wait for an entry to end'
complete -c wrangle -n __wrangle_needs_command -a ping -d 'Tell whether the daemon is up'
complete -c wrangle -n __wrangle_needs_command -a shutdown -d 'Stop every owned process and the daemon'
complete -c wrangle -n __wrangle_needs_command -a daemon -d 'Run the daemon in the foreground'

# Selector filters: every command that takes SEL.
set -l sel 'not __wrangle_after_dashdash; and __wrangle_using ls status start stop restart rm signal logs wait'
complete -c wrangle -n $sel -l tag -x -d 'Entries carrying any of these tags'
complete -c wrangle -n $sel -l tag-all -x -d 'Entries carrying all of these tags'
complete -c wrangle -n $sel -l group -x -d 'Entries in any of these groups'
complete -c wrangle -n $sel -l group-all -x -d 'Entries in all of these groups'
complete -c wrangle -n $sel -l pid -x -d 'The entry whose process has this pid'
complete -c wrangle -n $sel -l id -x -d 'The entry with this id'
complete -c wrangle -n $sel -l name -x -a '(__wrangle_entries noall)' -d 'The entry with this name'
complete -c wrangle -n $sel -l state -x -a 'starting running stopping stopped exited backoff errored' -d 'Entries in this state'
complete -c wrangle -n $sel -l search -x -d 'Entries whose command line contains this text'
complete -c wrangle -n $sel -l alive -d 'Entries whose process is alive'
complete -c wrangle -n $sel -l all -d 'Allow acting on several entries'

# --json, where a command prints data.
complete -c wrangle -n 'not __wrangle_after_dashdash; and __wrangle_using run ls status start stop restart rm signal wait ping' -l json -d 'Print JSON'

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
complete -c wrangle -n $run -a -- -d 'Then the command to run'
# After `run --`: the command and its arguments, completed as if typed on their own.
complete -c wrangle -n __wrangle_after_dashdash -x -a '(__wrangle_complete_command)'

# ls
complete -c wrangle -n '__wrangle_using ls' -s q -l quiet -d 'Print ids only'
complete -c wrangle -n '__wrangle_using ls' -l names -d 'Print names only (ids for unnamed entries)'
complete -c wrangle -n '__wrangle_using ls' -l wide -d 'Add tags, groups, originator and cwd'
complete -c wrangle -n '__wrangle_using ls' -a '(__wrangle_entries)'

# status, start, stop, restart, rm: any number of SEL; logs, wait: one entry
complete -c wrangle -n '__wrangle_using status start stop restart rm' -a '(__wrangle_entries)'
complete -c wrangle -n '__wrangle_at logs 0; or __wrangle_at wait 0' -a '(__wrangle_entries noall)'
complete -c wrangle -n '__wrangle_using stop' -l timeout -x -d 'Send KILL after this long'
complete -c wrangle -n '__wrangle_using wait' -l timeout -x -d 'Give up after this long (exit 124)'

# signal SIG SEL
complete -c wrangle -n '__wrangle_at signal 0' -a '(__wrangle_signals)' -d Signal
complete -c wrangle -n '__wrangle_using signal; and not __wrangle_at signal 0' -a '(__wrangle_entries)'

# logs
complete -c wrangle -n '__wrangle_using logs' -s n -l lines -x -d 'Print the last N lines'
complete -c wrangle -n '__wrangle_using logs' -s f -l follow -d 'Keep printing new output'
complete -c wrangle -n '__wrangle_using logs' -l stdout -d 'Only standard output'
complete -c wrangle -n '__wrangle_using logs' -l stderr -d 'Only standard error'

# daemon
complete -c wrangle -n '__wrangle_using daemon' -l replace -d 'Take the place of a running daemon'
complete -c wrangle -n '__wrangle_using daemon' -l detach -d 'Run in the background once it accepts connections'
