# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pidaudit_global_optspecs
    string join \n format= fail-on= select= ignore= exclude= max-depth= proc-root= expect= started-after= own-pid-namespace color= q/quiet v/verbose textfile= w/warning= c/critical= h/help V/version
end

function __fish_pidaudit_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pidaudit_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pidaudit_using_subcommand
    set -l cmd (__fish_pidaudit_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pidaudit -n "__fish_pidaudit_needs_command" -l format -d 'Output format' -r -f -a "human\t'Grouped by pidfile, for people; colour on a terminal'
json\t'One versioned JSON document (its JSON Schema is listed under FILES in pidaudit(1))'
nagios\t'A Nagios/Icinga plugin: status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN'
prometheus\t'The Prometheus text exposition format (gauges)'
junit\t'JUnit XML for CI systems: one test case per pidfile'"
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l fail-on -d 'Exit 1 when a finding has this severity or worse (info < unknown < warning < error)' -r -f -a "error\t''
warning\t''
info\t''
never\t''"
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l select -d 'Only these finding codes (comma-separated, any case): reported by scan, acted on by fix' -r
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l ignore -d 'Not these finding codes (comma-separated): neither reported nor acted on' -r
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l exclude -d 'Skip files and directories whose path or name matches this glob (repeatable)' -r
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l max-depth -d 'Audit pidfiles at most N levels below each directory PATH (default 4; at least 1: the files directly in it are level 1)' -r
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l proc-root -d 'Read this directory as /proc (for tests, and for auditing from outside a container; fix then only plans)' -r -F
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l expect -d 'Expectations manifest (TOML): which daemons must run, as whom, how many (see pidaudit(1))' -r -F
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l started-after -d 'Every audited daemon must have started after TIME: RFC 3339, Unix seconds, a local time (`2026-11-26 13:00`) or a time ago (`10m`, `2h ago`)' -r
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l color -d 'When to colour the human report (auto: on a terminal, unless NO_COLOR is set or TERM is dumb)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l textfile -d 'Also write the Prometheus metrics to DIR/pidaudit.prom, atomically (node exporter\'s textfile collector directory)' -r -F
complete -c pidaudit -n "__fish_pidaudit_needs_command" -s w -l warning -d 'With --format nagios: WARNING when the number of problem pidfiles (with an error or warning finding) is outside this Nagios range (10, 10:, ~:10, 10:20, @10:20)' -r
complete -c pidaudit -n "__fish_pidaudit_needs_command" -s c -l critical -d 'With --format nagios: CRITICAL when the number of problem pidfiles is outside this range' -r
complete -c pidaudit -n "__fish_pidaudit_needs_command" -l own-pid-namespace -d 'Every audited pidfile was written from this PID namespace (a container auditing its own private /run): a PID missing here is stale. Without it, when /proc is a nested PID namespace, a missing PID is foreign-namespace (unknown): a host process may have written it'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -s q -l quiet -d 'Show only pidfiles with findings above info (warnings, errors, unknowns)'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -s v -l verbose -d 'Show evidence and process details'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -s V -l version -d 'Print version'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -a "scan" -d 'Audit pidfiles (the default command)'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -a "explain" -d 'Document a finding code: what it means, why it matters, what to do (all codes when none is given)'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -a "fix" -d 'Plan repairs (a dry run); --apply performs the safe ones, --unsafe the others too'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -a "undo" -d 'Restore what a fix run removed or rewrote, from its journal (the last run by default)'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -a "completions" -d 'Print a shell completion script (bash, zsh or fish) to standard output.'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -a "status" -d 'An init script\'s status action: is the daemon of one pidfile running?'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -a "watch" -d 'Audit, then keep watching: one event per change, as it happens'
complete -c pidaudit -n "__fish_pidaudit_needs_command" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l format -d 'Output format' -r -f -a "human\t'Grouped by pidfile, for people; colour on a terminal'
json\t'One versioned JSON document (its JSON Schema is listed under FILES in pidaudit(1))'
nagios\t'A Nagios/Icinga plugin: status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN'
prometheus\t'The Prometheus text exposition format (gauges)'
junit\t'JUnit XML for CI systems: one test case per pidfile'"
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l fail-on -d 'Exit 1 when a finding has this severity or worse (info < unknown < warning < error)' -r -f -a "error\t''
warning\t''
info\t''
never\t''"
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l select -d 'Only these finding codes (comma-separated, any case): reported by scan, acted on by fix' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l ignore -d 'Not these finding codes (comma-separated): neither reported nor acted on' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l exclude -d 'Skip files and directories whose path or name matches this glob (repeatable)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l max-depth -d 'Audit pidfiles at most N levels below each directory PATH (default 4; at least 1: the files directly in it are level 1)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l proc-root -d 'Read this directory as /proc (for tests, and for auditing from outside a container; fix then only plans)' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l expect -d 'Expectations manifest (TOML): which daemons must run, as whom, how many (see pidaudit(1))' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l started-after -d 'Every audited daemon must have started after TIME: RFC 3339, Unix seconds, a local time (`2026-11-26 13:00`) or a time ago (`10m`, `2h ago`)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l color -d 'When to colour the human report (auto: on a terminal, unless NO_COLOR is set or TERM is dumb)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l textfile -d 'Also write the Prometheus metrics to DIR/pidaudit.prom, atomically (node exporter\'s textfile collector directory)' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -s w -l warning -d 'With --format nagios: WARNING when the number of problem pidfiles (with an error or warning finding) is outside this Nagios range (10, 10:, ~:10, 10:20, @10:20)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -s c -l critical -d 'With --format nagios: CRITICAL when the number of problem pidfiles is outside this range' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -l own-pid-namespace -d 'Every audited pidfile was written from this PID namespace (a container auditing its own private /run): a PID missing here is stale. Without it, when /proc is a nested PID namespace, a missing PID is foreign-namespace (unknown): a host process may have written it'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -s q -l quiet -d 'Show only pidfiles with findings above info (warnings, errors, unknowns)'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -s v -l verbose -d 'Show evidence and process details'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand explain" -s h -l help -d 'Print help'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l format -d 'Output format of the plan and the result' -r -f -a "human\t'For people'
json\t'One JSON document (its JSON Schema is listed under FILES in pidaudit(1))'"
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l timeout -d 'How long a stopped copy is waited for after SIGTERM, in seconds' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l journal -d 'The journal directory (created mode 0700; refused if not root\'s or writable by others)' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l select -d 'Only these finding codes (comma-separated, any case): reported by scan, acted on by fix' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l ignore -d 'Not these finding codes (comma-separated): neither reported nor acted on' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l exclude -d 'Skip files and directories whose path or name matches this glob (repeatable)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l max-depth -d 'Audit pidfiles at most N levels below each directory PATH (default 4; at least 1: the files directly in it are level 1)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l proc-root -d 'Read this directory as /proc (for tests, and for auditing from outside a container; fix then only plans)' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l expect -d 'Expectations manifest (TOML): which daemons must run, as whom, how many (see pidaudit(1))' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l started-after -d 'Every audited daemon must have started after TIME: RFC 3339, Unix seconds, a local time (`2026-11-26 13:00`) or a time ago (`10m`, `2h ago`)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l apply -d 'Perform the safe actions (asks on a terminal unless --yes)'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -s y -l yes -d 'With --apply: do not ask'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l unsafe -d 'With --apply: also perform the unsafe actions (retracks found by name only, stopping copies)'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l kill -d 'With --unsafe: SIGKILL a copy still running after the timeout'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -l own-pid-namespace -d 'Every audited pidfile was written from this PID namespace (a container auditing its own private /run): a PID missing here is stale. Without it, when /proc is a nested PID namespace, a missing PID is foreign-namespace (unknown): a host process may have written it'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand fix" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand undo" -l journal -d 'The journal directory' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand undo" -l list -d 'List the journal\'s runs instead'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand undo" -s h -l help -d 'Print help'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand status" -l pidfile -d 'The daemon\'s pidfile' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand status" -l exec -d 'The process must run this executable (a path, or any path to the same file)' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand status" -l user -d 'The process must run as this user (a name or a numeric uid)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand status" -l name -d 'The process\'s name (comm, as `ps -o comm` shows it; cut to 15 bytes) must be this' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand status" -l proc-root -d 'Read this directory as /proc' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l format -d 'Output format of the events' -r -f -a "human\t'One line per event, for people'
json\t'One JSON object per line (its JSON Schema is listed under FILES in pidaudit(1))'"
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l interval -d 'Check this often for what no event reports, and audit everything again if any changed (`60s`, `5m`, `1h`)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l textfile -d 'Rewrite DIR/pidaudit.prom (node exporter\'s textfile collector) atomically after every change' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l listen -d 'Serve /metrics (the Prometheus exposition, with the watch\'s counters) and /healthz over HTTP on ADDR: PORT or :PORT (on 127.0.0.1), or ADDRESS:PORT' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l select -d 'Only these finding codes (comma-separated, any case): reported by scan, acted on by fix' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l ignore -d 'Not these finding codes (comma-separated): neither reported nor acted on' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l exclude -d 'Skip files and directories whose path or name matches this glob (repeatable)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l max-depth -d 'Audit pidfiles at most N levels below each directory PATH (default 4; at least 1: the files directly in it are level 1)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l proc-root -d 'Read this directory as /proc (for tests, and for auditing from outside a container; fix then only plans)' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l expect -d 'Expectations manifest (TOML): which daemons must run, as whom, how many (see pidaudit(1))' -r -F
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l started-after -d 'Every audited daemon must have started after TIME: RFC 3339, Unix seconds, a local time (`2026-11-26 13:00`) or a time ago (`10m`, `2h ago`)' -r
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -l own-pid-namespace -d 'Every audited pidfile was written from this PID namespace (a container auditing its own private /run): a PID missing here is stale. Without it, when /proc is a nested PID namespace, a missing PID is foreign-namespace (unknown): a host process may have written it'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand help; and not __fish_seen_subcommand_from scan explain fix undo completions status watch help" -f -a "scan" -d 'Audit pidfiles (the default command)'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand help; and not __fish_seen_subcommand_from scan explain fix undo completions status watch help" -f -a "explain" -d 'Document a finding code: what it means, why it matters, what to do (all codes when none is given)'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand help; and not __fish_seen_subcommand_from scan explain fix undo completions status watch help" -f -a "fix" -d 'Plan repairs (a dry run); --apply performs the safe ones, --unsafe the others too'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand help; and not __fish_seen_subcommand_from scan explain fix undo completions status watch help" -f -a "undo" -d 'Restore what a fix run removed or rewrote, from its journal (the last run by default)'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand help; and not __fish_seen_subcommand_from scan explain fix undo completions status watch help" -f -a "completions" -d 'Print a shell completion script (bash, zsh or fish) to standard output.'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand help; and not __fish_seen_subcommand_from scan explain fix undo completions status watch help" -f -a "status" -d 'An init script\'s status action: is the daemon of one pidfile running?'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand help; and not __fish_seen_subcommand_from scan explain fix undo completions status watch help" -f -a "watch" -d 'Audit, then keep watching: one event per change, as it happens'
complete -c pidaudit -n "__fish_pidaudit_using_subcommand help; and not __fish_seen_subcommand_from scan explain fix undo completions status watch help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
