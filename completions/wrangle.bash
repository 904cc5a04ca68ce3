# bash completion for wrangle(1)                              -*- shell-script -*-
#
# Install as /usr/share/bash-completion/completions/wrangle, or source it from ~/.bashrc.
# Entry names, tags and groups come from the running daemon (`wrangle ls --names`, `wrangle tag
# -q`, `wrangle group -q`) with WRANGLE_NO_AUTOSTART=1, so completing never starts a daemon;
# they are offered literally (see _wrangle_reply_words), never expanded.

_wrangle_commands="run ls status start stop restart rm signal attach send resize logs events wait add
label tag group prune reset tree ping shutdown upgrade up down save resurrect daemon startup unstartup
edit mcp screen top"

_wrangle_signals="HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT
CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS"

_wrangle_states="starting running stopping stopped exited backoff errored"

# Selector filters, taken by every command that takes SEL.
_wrangle_selector_flags="--tag --tag-all --group --group-all --pid --id --name --state --search
--originator --alive --all"

# Detach keys of `attach --detach-key`. compgen -W expands its words once, so `ctrl-\\\\` is
# offered as `ctrl-\\`, which the shell then reads as `ctrl-\`.
_wrangle_detach_keys='ctrl-\\\\ ctrl-a ctrl-b ctrl-c ctrl-d ctrl-e ctrl-f ctrl-g ctrl-h ctrl-i ctrl-j
ctrl-k ctrl-l ctrl-m ctrl-n ctrl-o ctrl-p ctrl-q ctrl-r ctrl-s ctrl-t ctrl-u ctrl-v ctrl-w ctrl-x
ctrl-y ctrl-z ctrl-] none'

# Options that take a value (the next word is that value, not a positional argument).
# (`run --stdout/--stderr` take one too, but `logs --stdout/--stderr` do not; `run` counts no
# positional arguments, so they are left out. `-f` takes one for `up` and `down` only: for
# `logs` it is --follow.)
_wrangle_value_flags="--socket --name --tag --tag-all --group --group-all --pid --id --state
--search --cwd --env --env-file --stop-signal --stop-timeout --log-max-size --log-keep --timeout
-n --lines --grep -C --context -A --after -B --before --head --run --since --type --originator
--add-tag --rm-tag --add-group --rm-group --rename --older-than --confirm --size --stdin
--restart --max-restarts --backoff --min-uptime --leftovers --detach-key --profile --log --port
--file --format --scrollback --screen
--sort --color --width --cmd --unset-env"

# Prints the flags of one subcommand.
_wrangle_flags() {
    case $1 in
        run)
            echo "--name --tag --group --cwd --env --env-file --clear-env --shell" \
                "--stop-signal --stop-timeout --pty --size --stdin --stdout --stderr" \
                "--attach --wait --restart --max-restarts --backoff --min-uptime" \
                "--leftovers --log-max-size --log-keep --scrollback --json --help"
            ;;
        ls)
            echo "--json -q --quiet --names --wide --sort --color --width --help" \
                "$_wrangle_selector_flags"
            ;;
        status)
            echo "--show-env --utc --json --help $_wrangle_selector_flags"
            ;;
        start | signal)
            echo "--json --help $_wrangle_selector_flags"
            ;;
        rm)
            echo "--kill --json --help $_wrangle_selector_flags"
            ;;
        restart)
            echo "--profile --json --help $_wrangle_selector_flags"
            ;;
        attach)
            echo "--detach-key --read-only --help $_wrangle_selector_flags"
            ;;
        send)
            echo "-n --no-newline --eof --keys --help $_wrangle_selector_flags"
            ;;
        resize)
            echo "--help $_wrangle_selector_flags"
            ;;
        screen)
            echo "--format --scrollback --json --help $_wrangle_selector_flags"
            ;;
        stop)
            echo "--timeout --json --help $_wrangle_selector_flags"
            ;;
        wait)
            echo "--timeout --log --port --ready --screen --json --help $_wrangle_selector_flags"
            ;;
        logs)
            echo "-n --lines -f --follow --stdout --stderr --grep -C --context -A --after" \
                "-B --before --head --run --timestamps --utc --since --build --clear --json" \
                "--color --help" \
                "$_wrangle_selector_flags"
            ;;
        events)
            echo "--type --utc --json --help $_wrangle_selector_flags"
            ;;
        add)
            echo "--name --tag --group --json --help"
            ;;
        edit)
            echo "--cmd --shell --env --unset-env --cwd --restart --max-restarts --backoff" \
                "--min-uptime --stop-signal --stop-timeout --restart-now --json --help" \
                "$_wrangle_selector_flags"
            ;;
        label)
            # --name gives a new name here; the other selector filters apply.
            echo "--add-tag --rm-tag --add-group --rm-group --json --help" \
                "${_wrangle_selector_flags//$'\n'/ }"
            ;;
        tag | group)
            echo "--rename -q --quiet --json --help"
            ;;
        prune)
            echo "--older-than --json --help"
            ;;
        reset)
            echo "--confirm --help"
            ;;
        tree)
            echo "--help $_wrangle_selector_flags"
            ;;
        ping | resurrect)
            echo "--json --help"
            ;;
        save)
            echo "--force --json --help"
            ;;
        up | down)
            echo "-f --file --json --help"
            ;;
        shutdown)
            echo "--help"
            ;;
        top)
            echo "--help"
            ;;
        upgrade)
            echo "--binary --json --help"
            ;;
        daemon)
            echo "--replace --detach --resurrect --passthrough --help"
            ;;
        startup)
            echo "--install --help"
            ;;
        unstartup)
            echo "--help"
            ;;
        mcp)
            echo "--http --read-only --allow --deny --own-only --print-token --help"
            ;;
    esac
}

# Prints the names of the running daemon's entries (ids for unnamed ones), then `all`
# unless $2 is "noall". $1: the --socket given on the command line, if any.
_wrangle_entries() {
    local -a sock=()
    [[ -n $1 ]] && sock=(--socket "$1")
    WRANGLE_NO_AUTOSTART=1 command wrangle "${sock[@]}" ls --names 2>/dev/null
    [[ $2 == noall ]] || echo all
}

# Prints the tags ($2 = tag) or groups ($2 = group) in use. $1: the --socket, if any.
_wrangle_labels() {
    local -a sock=()
    [[ -n $1 ]] && sock=(--socket "$1")
    WRANGLE_NO_AUTOSTART=1 command wrangle "${sock[@]}" "$2" -q 2>/dev/null
}

_wrangle_reply() {
    # $1: word list; completes the current word from it.
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

# $1: words from the daemon (entry names, tags, groups), one a line; completes the current
# word from them. They are never expanded (compgen -W would run a `$(...)` in one: a tag may
# come from a services file or another client, or have been saved by an older wrangle), and
# each is offered quoted for the command line, so it is read back as itself.
_wrangle_reply_words() {
    local word quoted
    COMPREPLY=()
    while IFS= read -r word; do
        [[ -n $word ]] || continue
        printf -v quoted %q "$word"
        # The current word as typed: a prefix of the word, or of its quoted form.
        if [[ $word == "$cur"* || $quoted == "$cur"* ]]; then
            COMPREPLY+=("$quoted")
        fi
    done <<<"$1"
}

_wrangle_reply_or_files() {
    # $1: word list; completes the current word from it or from file names.
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur"; compgen -f -- "$cur")
}

_wrangle() {
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    # Find the subcommand, skipping the global --socket PATH.
    local i word sub="" subidx=0 socket=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            --socket)
                ((i++))
                socket=${COMP_WORDS[i]}
                ;;
            -*) ;;
            *)
                sub=$word
                subidx=$i
                break
                ;;
        esac
    done

    if [[ -z $sub ]]; then
        case $prev in
            --socket)
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                ;;
            *)
                if [[ $cur == -* ]]; then
                    _wrangle_reply "--socket --version -V --help"
                else
                    _wrangle_reply "$_wrangle_commands"
                fi
                ;;
        esac
        return 0
    fi

    # `run ... -- CMD ARG...`: complete a command, then its arguments.
    if [[ $sub == run ]]; then
        for ((i = subidx + 1; i < COMP_CWORD; i++)); do
            if [[ ${COMP_WORDS[i]} == -- ]]; then
                if ((i + 1 == COMP_CWORD)); then
                    compopt -o filenames 2>/dev/null
                    mapfile -t COMPREPLY < <(compgen -c -- "$cur")
                elif declare -F _command_offset >/dev/null; then
                    _command_offset $((i + 1))
                else
                    compopt -o filenames 2>/dev/null
                    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                fi
                return 0
            fi
        done
    fi

    # The value of an option.
    case $prev in
        --stop-signal)
            _wrangle_reply "$_wrangle_signals"
            return 0
            ;;
        --state)
            _wrangle_reply "$_wrangle_states"
            return 0
            ;;
        --type)
            _wrangle_reply "status log all"
            return 0
            ;;
        --run)
            _wrangle_reply "-1 -2 all"
            return 0
            ;;
        --restart)
            _wrangle_reply "never on-failure always"
            return 0
            ;;
        --leftovers)
            _wrangle_reply "stop keep"
            return 0
            ;;
        --sort)
            _wrangle_reply "id name cpu mem uptime restarts"
            return 0
            ;;
        --color)
            _wrangle_reply "auto always never"
            return 0
            ;;
        --stdin)
            _wrangle_reply_or_files "null stream"
            return 0
            ;;
        --stdout | --stderr)
            # Values for `run`; for `logs` these are switches.
            if [[ $sub == run ]]; then
                if [[ $prev == --stdout ]]; then
                    _wrangle_reply_or_files "log null"
                else
                    _wrangle_reply_or_files "log null stdout"
                fi
                return 0
            fi
            ;;
        --detach-key)
            _wrangle_reply "$_wrangle_detach_keys"
            return 0
            ;;
        -f | --file)
            # The services file of `up` and `down` (for `logs`, -f is --follow).
            if [[ $sub == up || $sub == down ]]; then
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                return 0
            fi
            ;;
        --profile)
            # Profiles are named in the services file; `base` is always there.
            _wrangle_reply "base"
            return 0
            ;;
        --name)
            # A selector filter names an existing entry; `run`, `add` and `label` give a new name.
            case $sub in
                run | add | label) ;;
                *) _wrangle_reply_words "$(_wrangle_entries "$socket" noall)" ;;
            esac
            return 0
            ;;
        --tag | --tag-all | --rm-tag)
            # Existing tags, where a tag is looked for or removed.
            case $sub in
                run | add) ;;
                *) _wrangle_reply_words "$(_wrangle_labels "$socket" tag)" ;;
            esac
            return 0
            ;;
        --group | --group-all | --rm-group)
            case $sub in
                run | add) ;;
                *) _wrangle_reply_words "$(_wrangle_labels "$socket" group)" ;;
            esac
            return 0
            ;;
        --cwd)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return 0
            ;;
        --env-file)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
            ;;
        --env)
            compopt -o nospace 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -e -S = -- "$cur")
            return 0
            ;;
        --pid | --id | --search | --originator | --stop-timeout | --log-max-size | --log-keep | \
            --timeout | -n | --lines | --grep | -C | --context | -A | --after | -B | --before | \
            --head | --since | --add-tag | --add-group | --rename | --older-than | --confirm | \
            --size | --max-restarts | --backoff | --min-uptime | --log | --port | --scrollback | \
            --screen)
            return 0
            ;;
        --format)
            _wrangle_reply_words "text ansi html"
            return 0
            ;;
    esac

    if [[ $cur == -* ]]; then
        _wrangle_reply "$(_wrangle_flags "$sub")"
        return 0
    fi

    # Count the positional arguments before the current word.
    local npos=0 skip=0
    for ((i = subidx + 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((skip)); then
            skip=0
            continue
        fi
        case " ${_wrangle_value_flags//$'\n'/ } " in
            *" $word "*)
                skip=1
                continue
                ;;
        esac
        if [[ $word == -f && ($sub == up || $sub == down) ]]; then
            skip=1
            continue
        fi
        [[ $word == -* ]] || ((npos++))
    done

    case $sub in
        ls | status | start | stop | restart | rm | events | label | tree | logs | edit)
            _wrangle_reply_words "$(_wrangle_entries "$socket")"
            ;;
        tag | group)
            ((npos == 0)) && _wrangle_reply_words "$(_wrangle_labels "$socket" "$sub")"
            ;;
        wait | attach | send | resize | screen)
            # One entry: a name or an id (then, for send, text; for resize, ROWSxCOLS).
            ((npos == 0)) && _wrangle_reply_words "$(_wrangle_entries "$socket" noall)"
            ;;
        down)
            # Services of the file; they are entries of the same names.
            _wrangle_reply_words "$(_wrangle_entries "$socket" noall)"
            ;;
        signal)
            if ((npos == 0)); then
                _wrangle_reply "$_wrangle_signals"
            else
                _wrangle_reply_words "$(_wrangle_entries "$socket")"
            fi
            ;;
        run)
            _wrangle_reply "-- $(_wrangle_flags run)"
            ;;
        startup | unstartup)
            ((npos == 0)) && _wrangle_reply "systemd systemd-user openrc sysvinit cron"
            ;;
    esac
    return 0
}

complete -F _wrangle wrangle
