//! Generated gRPC types and the descriptor set for server reflection.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod gatekey {
    pub mod v1 {
        tonic::include_proto!("gatekey.v1");
    }
}

pub use gatekey::v1;

/// Encoded `FileDescriptorSet` of `proto/`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("gatekey_descriptor");
