//! The `gatekey` binary; everything lives in the library.

/// glibc's allocator serialises threads that free what another thread allocated on an arena
/// lock; every request does that (a tokio worker builds an answer another one may drop), and
/// on the gateway paths it cost a third of the CPU per call. mimalloc frees to the owner's
/// heap without a lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gatekey::cli::main()
}
