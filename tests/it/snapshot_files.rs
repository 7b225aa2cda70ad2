//! Every file in `tests/it/snapshots/` is one a test still asserts, and none waits for review:
//! `cargo insta test --unreferenced=reject` without needing `cargo-insta` installed.

use std::path::Path;

#[test]
fn every_stored_snapshot_is_named_by_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(root.join("snapshots")).expect("tests/it/snapshots") {
        let file = entry.expect("a directory entry").file_name();
        let file = file.to_string_lossy();
        if file.ends_with(".snap.new") || file.ends_with(".pending-snap") {
            problems.push(format!(
                "{file}: a pending snapshot: review it into the `.snap` or delete it"
            ));
            continue;
        }
        let Some(stem) = file.strip_suffix(".snap") else {
            continue;
        };
        // `it__<module>__<name>.snap`; a nested module's path is joined with `__` too.
        let Some((module, name)) = stem
            .strip_prefix("it__")
            .and_then(|rest| rest.rsplit_once("__"))
        else {
            problems.push(format!("{file}: not an `it` snapshot name"));
            continue;
        };
        let module = module.replace("__", "/");
        let source = std::fs::read_to_string(root.join(format!("{module}.rs")))
            .or_else(|_| std::fs::read_to_string(root.join(format!("{module}/mod.rs"))));
        let Ok(source) = source else {
            problems.push(format!("{file}: no module {module}"));
            continue;
        };
        // A named snapshot's name is a string literal in its module; an unnamed one is named
        // after its test function, with `-N` for the second and later in that function.
        let base = name
            .rsplit_once('-')
            .filter(|(_, n)| n.chars().all(|c| c.is_ascii_digit()))
            .map_or(name, |(base, _)| base);
        let named =
            source.contains(&format!("\"{name}\"")) || source.contains(&format!("fn {base}("));
        if !named {
            problems.push(format!("{file}: no test in {module}.rs names it"));
        }
    }
    assert!(
        problems.is_empty(),
        "snapshot files to delete or review:\n{}",
        problems.join("\n")
    );
}
