//! Compiles the driver proto with protox (pure Rust, no protoc) into tonic code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/machine_lifecycle/v1/driver.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
