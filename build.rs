//! Compiles `proto/` without a system `protoc` (protox) and writes the descriptor set
//! that the server exposes through gRPC reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/gatekey/v1/common.proto",
        "proto/gatekey/v1/auth.proto",
        "proto/gatekey/v1/admin.proto",
        "proto/gatekey/v1/keys.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("gatekey_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
