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
    let mut reply = descriptors.clone();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;

    // A second `AuthService` server whose Verify answers `grpc::reply::VerifyReply`: the same
    // bytes on the wire as `VerifyResponse`, written from a principal encoded once per cached
    // key instead of a message rebuilt (a dozen allocations) on every call. Every other type
    // is the one generated above, and clients keep decoding `VerifyResponse`.
    reply
        .file
        .retain(|f| !matches!(f.name(), "gatekey/v1/admin.proto" | "gatekey/v1/keys.proto"));
    let reply_dir = out_dir.join("reply");
    std::fs::create_dir_all(&reply_dir)?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .out_dir(reply_dir)
        .extern_path(".gatekey.v1", "crate::proto::v1")
        .extern_path(".gatekey.v1.VerifyResponse", "crate::grpc::reply::VerifyReply")
        .compile_fds(reply)?;
    Ok(())
}
