//! Converts `shared/openapi.yaml` into the JSON the function serves, failing the build when
//! the document does not parse.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Relative to this package: clones sharing a target directory each watch their own file.
    const SOURCE: &str = "../../shared/openapi.yaml";
    println!("cargo::rerun-if-changed={SOURCE}");
    // Read at run time: a clone sharing the target directory reuses this compiled script,
    // and `env!` would point it at the first clone's file.
    let source = Path::new(&std::env::var("CARGO_MANIFEST_DIR")?).join(SOURCE);
    let document: serde_json::Value = serde_norway::from_str(&std::fs::read_to_string(&source)?)?;
    let out = Path::new(&std::env::var("OUT_DIR")?).join("openapi.json");
    std::fs::write(out, serde_json::to_vec(&document)?)?;
    // As every function links (see ../no-pie.rs).
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
    Ok(())
}
