//! The docs, pasted as a new user pastes them: every shell block marked
//! `<!-- runs in tests/integration/readme.rs -->` in the files of [`RUNNABLE_DOCS`] runs, in
//! that order, against the real binary serving the shipped config from a fresh directory, and
//! each command's output must be the `# ...` lines written under it. Every relative link and
//! `#anchor` in the docs must resolve. (The handler guide is checked in `handler_guide.rs`.)
//!
//! The only rewrites: `cargo run -q -p chathook --` becomes the built binary (the same
//! `chathook` plus test-only handlers that are disabled here), and `127.0.0.1:8080` becomes
//! the port the server got.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chathook_tests::process::{RunningBinary, clean_command};
use serde_json::Value;

const MARKER: &str = "<!-- runs in tests/integration/readme.rs -->";

/// The documents whose marked blocks run, in the order they run: the front page's walk-through
/// first, then the manual, then the plugins' references. A new document with runnable blocks
/// goes here (a test fails until it does).
const RUNNABLE_DOCS: &[&str] = &[
    "README.md",
    "docs/configuration.md",
    "docs/callbacks.md",
    "docs/operations.md",
    "docs/console.md",
    "docs/threat-model.md",
    "crates/chathook-read-receipt/README.md",
    "crates/chathook-nats/README.md",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|error| panic!("{relative}: {error}"))
}

/// Every Markdown file of the docs, relative to the repository root: the top level, `docs/`,
/// and each crate's and example's own.
fn doc_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["", "docs", "crates/*", "examples/*"] {
        let (parent, each) = match dir.strip_suffix("/*") {
            Some(parent) => (parent, true),
            None => (dir, false),
        };
        let dirs: Vec<String> = if each {
            std::fs::read_dir(root().join(parent))
                .unwrap()
                .map(|entry| format!("{parent}/{}", entry.unwrap().file_name().to_string_lossy()))
                .collect()
        } else {
            vec![parent.to_owned()]
        };
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(root().join(&dir)) else {
                continue;
            };
            for entry in entries {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                if name.ends_with(".md") {
                    files.push(if dir.is_empty() {
                        name
                    } else {
                        format!("{dir}/{name}")
                    });
                }
            }
        }
    }
    files.sort();
    files
}

/// The marked shell blocks of one document, in order.
fn runnable_blocks(doc: &str) -> Vec<String> {
    doc.split(MARKER)
        .skip(1)
        .map(|after| {
            let block = after
                .trim_start()
                .strip_prefix("```sh\n")
                .unwrap_or_else(|| panic!("{MARKER} must be followed by a ```sh block"));
            block[..block.find("```").expect("closed block")].to_owned()
        })
        .collect()
}

/// One command of a block (continuation lines joined) and the output written under it.
struct Step {
    command: String,
    expected: Vec<String>,
}

/// A block's commands. Comment lines right under a command are its output; a comment after a
/// blank line, or before any command, is prose.
fn steps(block: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continuing = false;
    let mut under_command = false;
    for line in block.lines() {
        if continuing {
            let step = steps.last_mut().expect("a command continues");
            step.command.push('\n');
            step.command.push_str(line);
            continuing = line.ends_with('\\') || line.ends_with('|');
        } else if let Some(comment) = line.strip_prefix('#') {
            if under_command {
                let step = steps.last_mut().expect("a command above");
                step.expected.push(comment.trim().to_owned());
            }
        } else if line.trim().is_empty() {
            under_command = false;
        } else {
            steps.push(Step {
                command: line.to_owned(),
                expected: Vec::new(),
            });
            continuing = line.ends_with('\\') || line.ends_with('|');
            under_command = true;
        }
    }
    steps
}

/// Whether `output` is what the README says: the expected lines as one JSON value, or line by
/// line (each line as JSON where it is JSON, else as text).
fn matches(expected: &[String], output: &str) -> bool {
    let joined = expected.join(" ");
    if let (Ok(want), Ok(got)) = (
        serde_json::from_str::<Value>(&joined),
        serde_json::from_str::<Value>(output.trim()),
    ) {
        return want == got;
    }
    let lines: Vec<&str> = output.trim_end().lines().collect();
    lines.len() == expected.len()
        && expected.iter().zip(&lines).all(|(want, got)| {
            match (
                serde_json::from_str::<Value>(want),
                serde_json::from_str::<Value>(got),
            ) {
                (Ok(want), Ok(got)) => want == got,
                _ => want == got.trim(),
            }
        })
}

#[test]
fn the_readme_shell_examples_run_as_written() {
    let blocks: Vec<(&str, String)> = RUNNABLE_DOCS
        .iter()
        .flat_map(|doc| {
            runnable_blocks(&read(doc))
                .into_iter()
                .map(move |block| (*doc, block))
        })
        .collect();
    assert!(
        blocks.len() >= 3,
        "the docs mark {} runnable blocks: the walk-through's callback, the environment and the \
         read-receipt API make three",
        blocks.len()
    );
    // The shipped config, in a fresh directory as in a fresh clone: its store is created there.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/chathook.toml"),
        dir.path().join("config/chathook.toml"),
    )
    .unwrap();
    let binary = chathook_tests::server_binary!();
    let server = RunningBinary::spawn(clean_command(binary, dir.path()));
    let mut checked = 0;
    for (doc, block) in &blocks {
        let steps = steps(block);
        // One shell per block, so that a variable set by one command reaches the next.
        let mut script = String::from("set -eo pipefail\n");
        for (index, step) in steps.iter().enumerate() {
            let command = step
                .command
                .replace("cargo run -q -p chathook --", binary)
                .replace("127.0.0.1:8080", &server.addr);
            script.push_str(&format!("{{\n{command}\n}} > out-{index}\n"));
        }
        let output = clean_command("bash", dir.path())
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "this block of {doc} failed:\n{block}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for (index, step) in steps.iter().enumerate() {
            if step.expected.is_empty() {
                continue;
            }
            let got = std::fs::read_to_string(dir.path().join(format!("out-{index}"))).unwrap();
            assert!(
                matches(&step.expected, &got),
                "{doc}: `{}`\nsays it prints\n{}\nbut it printed\n{got}",
                step.command,
                step.expected.join("\n")
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} outputs checked");
    drop(server);
}

#[test]
fn the_step_parser_reads_outputs_and_prose_apart() {
    let steps = steps(
        "q=$(sign)\ncurl -s x \\\n  -d y\n# {\"a\":1,\n#  \"b\":2}\n\n# prose\ncurl z\n# HTTP 200\n",
    );
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1].command, "curl -s x \\\n  -d y");
    assert_eq!(steps[1].expected, ["{\"a\":1,", "\"b\":2}"]);
    assert!(matches(&steps[1].expected, "{\"b\":2,\"a\":1}\n"));
    assert!(!matches(&steps[1].expected, "{\"a\":1}"));
    assert_eq!(steps[2].expected, ["HTTP 200"]);
    assert!(matches(
        &["HTTP 200".into(), "{\"x\":1}".into()],
        "HTTP 200\n{ \"x\": 1 }\n"
    ));
}

#[test]
fn every_document_with_runnable_blocks_is_run() {
    for doc in doc_files() {
        if read(&doc).lines().any(|line| line.trim() == MARKER) {
            assert!(
                RUNNABLE_DOCS.contains(&doc.as_str()),
                "{doc} marks runnable blocks: add it to RUNNABLE_DOCS so they run"
            );
        }
    }
    for doc in RUNNABLE_DOCS {
        assert!(
            root().join(doc).is_file(),
            "RUNNABLE_DOCS names {doc}, which is gone"
        );
    }
}

/// A Markdown text without its fenced code blocks, line by line.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces as
/// hyphens, and `-1`, `-2`, ... on repeats.
fn anchors(text: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    for line in prose_lines(text) {
        let Some(title) = line
            .strip_prefix('#')
            .map(|rest| rest.trim_start_matches('#'))
            .and_then(|rest| rest.strip_prefix(' '))
        else {
            continue;
        };
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut repeat = 0;
        while !anchors.insert(unique.clone()) {
            repeat += 1;
            unique = format!("{slug}-{repeat}");
        }
    }
    anchors
}

/// The targets of a text's inline links and images, `[text](target)`, outside code blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// `path` relative to the repository root, with `.` and `..` folded away.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                parts.pop().expect("a link above the repository root");
            }
            std::path::Component::Normal(name) => parts.push(name.to_string_lossy().into()),
            _ => {}
        }
    }
    parts.join("/")
}

#[test]
fn every_relative_link_and_anchor_in_the_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in doc_files() {
        let text = read(&doc);
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                doc.clone()
            } else {
                normalize(&Path::new(&doc).parent().unwrap().join(path))
            };
            checked += 1;
            if !root().join(&file).exists() {
                broken.push(format!("{doc}: ({target}): no file {file}"));
            } else if !anchor.is_empty() && !anchors(&read(&file)).contains(anchor) {
                broken.push(format!("{doc}: ({target}): no heading #{anchor} in {file}"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 50, "only {checked} links checked");
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    let text = "# chathook\n## The console: recent callbacks, `chathook tail` and `/console`\n\
                ```sh\n# not a heading\n```\n## Several handlers per command (fan-out)\n## Run\n## Run\n";
    let anchors = anchors(text);
    for anchor in [
        "chathook",
        "the-console-recent-callbacks-chathook-tail-and-console",
        "several-handlers-per-command-fan-out",
        "run",
        "run-1",
    ] {
        assert!(anchors.contains(anchor), "{anchor} in {anchors:?}");
    }
    assert_eq!(anchors.len(), 5, "{anchors:?}");
    assert_eq!(
        link_targets("see [a](b.md#c) and ![d](e.png)\n```\n[h](i)\n```\n"),
        ["b.md#c", "e.png"]
    );
}
