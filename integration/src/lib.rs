//! Shared harness for namespace tests.
