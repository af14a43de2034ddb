//! racoon.conf and psk.txt parsing into typed configuration with file:line:col diagnostics.
