//! UniFFI's bindings generator, built from the workspace so its version is the library's
//! (`scripts/generate-bindings` runs it in library mode on the built `cdylib`).

fn main() {
    uniffi::uniffi_bindgen_main();
}
