//! docs/writing-a-handler.md is tested verbatim: every file block it marks
//! `<!-- file: PATH -->` is that file of the repository byte for byte, the marked files are all
//! of `examples/my-filter` and `examples/my-filter-server` (which the workspace builds, lints
//! and unit-tests), and its Rust is as `cargo fmt` leaves it. The blocks it marks
//! `<!-- excerpt of PATH -->` quote lines of a file: each of them must still be in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GUIDE: &str = "docs/writing-a-handler.md";
const MARKER: &str = "<!-- file: ";
/// The guide's two crates: every file in them is in the guide.
const CRATES: [&str; 2] = ["examples/my-filter", "examples/my-filter-server"];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(path, language, text)` of each marked block, in order.
fn file_blocks(guide: &str) -> Vec<(String, String, String)> {
    guide
        .split(MARKER)
        .skip(1)
        .map(|after| {
            let (path, rest) = after.split_once(" -->\n").expect("a marker ends with -->");
            let rest = rest
                .strip_prefix("```")
                .unwrap_or_else(|| panic!("{path}: the marker must be followed by a block"));
            let (language, rest) = rest.split_once('\n').expect("a fence line");
            let end = rest.find("\n```").expect("a closed block") + 1;
            (path.to_owned(), language.to_owned(), rest[..end].to_owned())
        })
        .collect()
}

/// Every file under `dir`, relative to the repository, build output aside.
fn files_under(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|name| name == "target") {
            continue;
        }
        if path.is_dir() {
            files_under(&path, found);
        } else {
            let relative = path.strip_prefix(repository()).unwrap();
            found.push(relative.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn the_guide_shows_the_example_crates_byte_for_byte() {
    let guide = std::fs::read_to_string(repository().join(GUIDE)).unwrap();
    let blocks = file_blocks(&guide);
    for (path, _, text) in &blocks {
        let file = std::fs::read_to_string(repository().join(path))
            .unwrap_or_else(|error| panic!("{GUIDE} shows {path}, which cannot be read: {error}"));
        assert!(
            *text == file,
            "{GUIDE}'s block for {path} differs from the file: copy one onto the other\n\
             --- guide\n{text}--- file\n{file}"
        );
    }
    let mut shown: Vec<String> = blocks.into_iter().map(|(path, _, _)| path).collect();
    shown.sort();
    let mut files = Vec::new();
    for dir in CRATES {
        files_under(&repository().join(dir), &mut files);
    }
    files.sort();
    assert_eq!(
        shown, files,
        "the guide shows exactly the files of its two crates"
    );
}

#[test]
fn the_guide_code_is_formatted() {
    let guide = std::fs::read_to_string(repository().join(GUIDE)).unwrap();
    let blocks: Vec<(String, String, String)> = file_blocks(&guide)
        .into_iter()
        .filter(|(_, language, _)| language == "rust")
        .collect();
    assert!(blocks.len() >= 2, "the guide's lib.rs and main.rs");
    for (path, _, block) in blocks {
        let mut rustfmt = Command::new("rustfmt")
            .args(["--check", "--edition", "2024"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("rustfmt runs (rustup component add rustfmt)");
        std::io::Write::write_all(&mut rustfmt.stdin.take().unwrap(), block.as_bytes()).unwrap();
        let output = rustfmt.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{path} in the guide is not as cargo fmt leaves it:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// `(path, text)` of each block the guide marks `<!-- excerpt of PATH -->`: lines quoted from
/// a file, not the whole of it.
fn excerpts(guide: &str) -> Vec<(String, String)> {
    guide
        .split("<!-- excerpt of ")
        .skip(1)
        .map(|after| {
            let (path, rest) = after.split_once(" -->\n").expect("a marker ends with -->");
            let rest = rest
                .strip_prefix("```rust\n")
                .unwrap_or_else(|| panic!("{path}: the marker must be followed by a rust block"));
            let end = rest.find("\n```").expect("a closed block") + 1;
            (path.to_owned(), rest[..end].to_owned())
        })
        .collect()
}

#[test]
fn every_line_of_the_queued_handler_excerpt_is_in_its_file() {
    let guide = std::fs::read_to_string(repository().join(GUIDE)).unwrap();
    let excerpts = excerpts(&guide);
    let shown: Vec<&str> = excerpts.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        shown,
        ["examples/crm-sync/src/lib.rs"],
        "the guide's excerpts"
    );
    for (path, text) in &excerpts {
        let file = std::fs::read_to_string(repository().join(path))
            .unwrap_or_else(|error| panic!("{GUIDE} quotes {path}, which cannot be read: {error}"));
        let lines: std::collections::HashSet<&str> = file.lines().collect();
        let stale: Vec<&str> = text
            .lines()
            .filter(|line| !line.trim().is_empty() && !lines.contains(line))
            .collect();
        assert!(
            stale.is_empty(),
            "{GUIDE}'s excerpt of {path} has lines the file no longer has (indentation \
             included): copy them from the file\n{}",
            stale.join("\n")
        );
    }
}
