//! End-to-end tests that run the project binaries.
