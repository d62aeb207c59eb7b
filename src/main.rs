//! The `gatekey` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    gatekey::cli::main()
}
