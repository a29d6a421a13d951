//! Manual pages generated from the clap definition in [`crate::cli`] and the finding catalogue in
//! [`crate::checks`], so they never drift from the binary: `pidaudit.1` and one page per command
//! (`pidaudit-scan.1`, `pidaudit-explain.1`, `pidaudit-status.1`, `pidaudit-fix.1`, `pidaudit-undo.1`,
//! `pidaudit-watch.1`, `pidaudit-completions.1`).
//!
//! The pages are committed under `doc/` (the Debian package installs them from there);
//! `tests/ship.rs` regenerates them and compares, and `PIDAUDIT_BLESS=1` rewrites them.

use clap::CommandFactory;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

/// One manual page: its file name (`pidaudit.1`) and its roff source.
pub struct Page {
    pub file_name: String,
    pub roff: String,
}

/// Every page: `pidaudit.1` first, then one per command.
pub fn pages() -> Vec<Page> {
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = vec![main_page(&cmd)];
    // Every page's footer names the program and its version, as the main page's does.
    let source = format!("pidaudit {}", cmd.get_version().unwrap_or_default());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(command_page(sub, &source));
    }
    pages
}

fn render(man: &Man, section: fn(&Man, &mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    section(man, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("roff is UTF-8")
}

fn main_page(cmd: &clap::Command) -> Page {
    let man = Man::new(cmd.clone());
    let mut text = String::new();
    for section in [
        Man::render_title,
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
        Man::render_options_section,
        Man::render_subcommands_section,
    ] {
        text += &render(&man, section);
    }
    // clap's after_help (exit statuses, pointers to this page) is replaced by the sections below.
    let mut roff = Roff::new();
    exit_status(&mut roff);
    finding_codes(&mut roff);
    manifest(&mut roff);
    environment(&mut roff);
    files(&mut roff);
    let pages = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("pidaudit-{}(1)", s.get_name()));
    see_also(&mut roff, pages.collect());
    text += &roff.render();
    text += &render(&man, Man::render_version_section);
    Page {
        file_name: man.get_filename(),
        roff: text,
    }
}

fn command_page(sub: &clap::Command, source: &str) -> Page {
    let man = Man::new(sub.clone()).source(source);
    let mut text = render(&man, Man::render);
    let mut roff = Roff::new();
    see_also(&mut roff, vec!["pidaudit(1)".into()]);
    text += &roff.render();
    Page {
        file_name: man.get_filename(),
        roff: text,
    }
}

/// `.TP` with a bold tag and a plain paragraph.
fn item(roff: &mut Roff, tag: impl Into<Vec<Inline>>, body: &str) {
    roff.control("TP", []);
    roff.text(tag);
    roff.text([roman(body)]);
}

fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman("The scan and the other commands:")]);
    item(
        roff,
        [bold("0")],
        "No finding at or above --fail-on (and every other command succeeded).",
    );
    item(roff, [bold("1")], "Findings at or above --fail-on.");
    item(
        roff,
        [bold("2")],
        "Usage error, invalid manifest, or internal error.",
    );
    roff.control("PP", []);
    roff.text([
        bold("pidaudit fix"),
        roman(" and "),
        bold("pidaudit undo"),
        roman(":"),
    ]);
    item(
        roff,
        [bold("0")],
        "Nothing left to do: nothing planned or refused (a dry run), every action done (--apply), \
         everything restored (undo).",
    );
    item(
        roff,
        [bold("1")],
        "Actions planned (a dry run), or refused, skipped or not run; a restore refused.",
    );
    item(
        roff,
        [bold("2")],
        "Usage or internal error: --apply with no terminal and no --yes, a journal that cannot be used.",
    );
    roff.control("PP", []);
    roff.text([
        roman("With "),
        bold("--format nagios"),
        roman(", as a Nagios or Icinga plugin:"),
    ]);
    item(roff, [bold("0")], "OK.");
    item(
        roff,
        [bold("1")],
        "WARNING: a warning finding and no error.",
    );
    item(roff, [bold("2")], "CRITICAL: an error finding.");
    item(
        roff,
        [bold("3")],
        "UNKNOWN: only findings whose truth could not be determined; also usage errors, an invalid range and --help.",
    );
    roff.control("PP", []);
    roff.text([
        bold("pidaudit status"),
        roman(", as an init script's status action (LSB):"),
    ]);
    item(roff, [bold("0")], "The daemon is running.");
    item(
        roff,
        [bold("1")],
        "The daemon is dead and its pidfile exists (stale, zombie or reused PID, or not the daemon described).",
    );
    item(roff, [bold("3")], "The daemon is not running: no pidfile.");
    item(
        roff,
        [bold("4")],
        "Unknown: invalid content, an unreadable or untrusted file; also usage errors.",
    );
}

fn finding_codes(roff: &mut Roff) {
    roff.control("SH", ["FINDING CODES"]);
    roff.text([roman(
        "Every finding has a stable code, a default severity (info < unknown < warning < error), \
         a subject, a one-line message and the evidence it was judged on. ",
    )]);
    roff.text([
        bold("pidaudit explain"),
        roman(" "),
        italic("CODE"),
        roman(" says why a finding matters and what to do about it. The codes:"),
    ]);
    for code in crate::checks::catalogue() {
        let doc = code.doc();
        item(
            roff,
            [bold(doc.code), roman(format!(" [{}]", doc.severity))],
            doc.summary,
        );
    }
}

fn manifest(roff: &mut Roff) {
    roff.control("SH", ["EXPECTATIONS MANIFEST"]);
    roff.text([
        bold("--expect"),
        roman(" "),
        italic("FILE"),
        roman(
            " reads a TOML file of [[service]] tables naming the daemons that must run. Each has \
             name and pidfile (absolute), and optionally exe, cmdline (a regular expression \
             searched in the arguments joined by spaces), user (a name or a uid), instances \
             (default 1), lock (\"required\" or \"optional\") and started_after (RFC 3339 or Unix \
             seconds). Without PATH, the manifest's pidfiles are the whole audit. A mistake in the \
             file stops the run with exit status 2 and FILE:LINE:COLUMN: message. An annotated \
             example is listed under FILES.",
        ),
    ]);
}

fn environment(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    item(
        roff,
        [bold("NO_COLOR")],
        "When set to a non-empty value, the human report is not coloured unless --color always is \
         given.",
    );
    item(
        roff,
        [bold("PIDAUDIT_UNIT_PATH")],
        "Colon-separated directories searched for systemd unit files instead of /etc/systemd/system, \
         /run/systemd/system, /lib/systemd/system and /usr/lib/systemd/system (highest precedence \
         first): for tests, and for auditing another root's units.",
    );
    item(
        roff,
        [bold("PIDAUDIT_SYSTEMCTL")],
        "An absolute path: systemd is taken to run, and this program is asked (systemctl show \
         --property=Id,MainPID,ControlGroup,PIDFile UNIT...) instead of /bin/systemctl or \
         /usr/bin/systemctl. For tests on machines whose PID 1 is not systemd.",
    );
}

fn files(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    item(
        roff,
        [italic("/run"), roman(", "), italic("/var/run")],
        "The default roots, walked 4 levels deep (once when one is a link to the other).",
    );
    item(
        roff,
        [
            italic("/service"),
            roman(", "),
            italic("/etc/service"),
            roman(", "),
            italic("/etc/sv"),
            roman(", "),
            italic("/var/service"),
            roman(", "),
            italic("/run/service"),
            roman(", "),
            italic("/run/s6-rc/servicedirs"),
        ],
        "Also walked without PATH: supervised service directories (daemontools, runit, s6), whose \
         supervise/pid or supervise/status is audited.",
    );
    item(
        roff,
        [
            italic("/etc/systemd/system"),
            roman(", "),
            italic("/lib/systemd/system"),
        ],
        "Unit files (and their .d drop-ins) read for PIDFile= and Slice=, templates through their \
         instances (instance files, links in *.wants/, running instances' cgroups); see \
         PIDAUDIT_UNIT_PATH.",
    );
    item(
        roff,
        [italic("/var/lib/pidaudit/journal/")],
        "The journal of pidaudit fix --apply (or --journal DIR): mode 0700, one RUN-ID.jsonl file per \
         run holding every change before and after it was made, the removed files' whole content \
         included; pidaudit undo restores from it.",
    );
    roff.control("PP", []);
    roff.text([roman("Installed by the Debian package:")]);
    item(
        roff,
        [italic(
            "/usr/share/doc/pidaudit/examples/expect.example.toml",
        )],
        "An annotated expectations manifest.",
    );
    item(
        roff,
        [italic("/usr/share/doc/pidaudit/pidaudit.schema.json")],
        "The JSON Schema of --format json (its schema_version is bumped on incompatible change).",
    );
    item(
        roff,
        [italic("/usr/share/doc/pidaudit/pidaudit-fix.schema.json")],
        "The JSON Schema of pidaudit fix --format json: the plan, and each action's outcome after --apply.",
    );
    item(
        roff,
        [italic("/usr/share/doc/pidaudit/pidaudit-watch.schema.json")],
        "The JSON Schema of one line of pidaudit watch --format json (JSON lines, one event each).",
    );
    item(
        roff,
        [
            italic("/usr/lib/systemd/system/pidaudit-textfile.service"),
            roman(", "),
            italic(".timer"),
        ],
        "Refresh /var/lib/prometheus/node-exporter/pidaudit.prom for node exporter's textfile \
         collector every 5 minutes; enable with systemctl enable --now pidaudit-textfile.timer.",
    );
    item(
        roff,
        [italic("/usr/lib/systemd/system/pidaudit-watch.service")],
        "pidaudit watch as a service: every change in the journal as it happens, and the textfile \
         rewritten after each (instead of the timer); enable with systemctl enable --now \
         pidaudit-watch.service.",
    );
    item(
        roff,
        [italic("/usr/share/doc/pidaudit/examples/")],
        "Nagios, Icinga 2 and Prometheus configuration, and a CI post-deploy script.",
    );
}

/// The SEE ALSO section: `pages` of this set, then related tools.
fn see_also(roff: &mut Roff, mut pages: Vec<String>) {
    roff.control("SH", ["SEE ALSO"]);
    pages.extend(["start-stop-daemon(8)", "pgrep(1)", "proc(5)", "flock(2)"].map(String::from));
    let mut line = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        let (name, section) = page.split_once('(').expect("name(section)");
        line.push(bold(name));
        line.push(roman(format!("({section}")));
    }
    roff.text(line);
}
