//! The README, pasted as a new user pastes it: every shell block marked
//! `<!-- runs in tests/integration/readme.rs -->` runs, in order, against the real binary
//! serving the shipped config from a fresh directory, and each command's output must be the
//! `# ...` lines written under it. (The handler guide is tested in `handler_guide.rs`.)
//!
//! The only rewrites: `cargo run -q -p chathook --` becomes the built binary (the same
//! `chathook` plus test-only handlers that are disabled here), and `127.0.0.1:8080` becomes
//! the port the server got.

use chathook_tests::process::{RunningBinary, clean_command};
use serde_json::Value;
use std::path::Path;

const MARKER: &str = "<!-- runs in tests/integration/readme.rs -->";

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
        .expect("README.md")
}

/// The marked shell blocks, in order.
fn runnable_blocks(readme: &str) -> Vec<String> {
    readme
        .split(MARKER)
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
    let readme = readme();
    let blocks = runnable_blocks(&readme);
    assert!(
        blocks.len() >= 3,
        "the README marks {} runnable blocks; the walk-through alone has three",
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
    for block in &blocks {
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
            "this README block failed:\n{block}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for (index, step) in steps.iter().enumerate() {
            if step.expected.is_empty() {
                continue;
            }
            let got = std::fs::read_to_string(dir.path().join(format!("out-{index}"))).unwrap();
            assert!(
                matches(&step.expected, &got),
                "README: `{}`\nsays it prints\n{}\nbut it printed\n{got}",
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
