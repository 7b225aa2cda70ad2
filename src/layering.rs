//! The layering rule, checked: domain modules know nothing of HTTP or of the running `App`. They
//! return their own errors, which the boundaries (`api`, `dashboard`, `telephony` webhooks) map
//! in one place each (`error/domain.rs` for the API and pages), and take what they use.

use std::path::{Path, PathBuf};

/// Modules that hold domain rules. Every module the post-call, sync and events work adds belongs
/// here too.
const DOMAIN: &[&str] = &[
    "users",
    "orgs",
    "phone_numbers",
    "agents",
    "analyzers",
    "calls",
    "contacts",
    "jobs",
    "recordings",
    "storage.rs",
    "paging.rs",
    "todos",
    "validation.rs",
    "outbound.rs",
    "secrets.rs",
    "mail.rs",
    "reports",
    "call_sync",
    "event_streams",
    "messages",
];

/// What a domain module must not name: the web framework, HTTP types, the boundaries' errors,
/// the boundaries themselves and the whole `App`.
const FORBIDDEN: &[&str] = &[
    "axum",
    "http::",
    "hyper",
    "crate::error",
    "ApiError",
    "PageError",
    "WebhookError",
    "crate::app",
    "crate::api",
    "crate::dashboard",
    "crate::telephony",
    "AppState",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read a source directory") {
            rust_files(&entry.expect("a directory entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// The code of a file without its comments, so a doc comment may still name what it avoids.
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(file, word)` for every forbidden word found in the domain modules under `src`.
fn violations(src: &Path) -> Vec<(String, &'static str)> {
    let mut files = Vec::new();
    for module in DOMAIN {
        let path = src.join(module);
        assert!(path.exists(), "domain module {module} is missing from src/");
        rust_files(&path, &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let code = code_of(&std::fs::read_to_string(&file).expect("read a source file"));
        for word in FORBIDDEN {
            if code.contains(word) {
                found.push((file.display().to_string(), *word));
            }
        }
    }
    found
}

#[test]
fn domain_modules_import_nothing_of_http_or_the_app() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "domain modules must return their own errors and take what they use: {found:#?}"
    );
}

#[test]
fn the_check_catches_an_import_of_the_api_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    for module in DOMAIN {
        let path = dir.path().join(module);
        if module.ends_with(".rs") {
            std::fs::write(&path, "// uses crate::error only in a comment\n").expect("write");
        } else {
            std::fs::create_dir(&path).expect("mkdir");
            std::fs::write(path.join("mod.rs"), "").expect("write");
        }
    }
    std::fs::write(
        dir.path().join("calls/start.rs"),
        "use crate::error::ApiError;\n",
    )
    .expect("write");
    let found = violations(dir.path());
    assert!(
        found
            .iter()
            .any(|(file, word)| file.ends_with("start.rs") && *word == "ApiError")
    );
    assert!(
        !found
            .iter()
            .any(|(file, _)| file.ends_with("validation.rs"))
    );
}
