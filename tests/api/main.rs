//! The one integration-test binary (as zero2prod and kanidm do): every test module drives
//! real code, the gRPC ones a real server on port 0.

mod store_conformance;
mod support;
