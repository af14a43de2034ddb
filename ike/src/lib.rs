//! Sans-I/O IKEv1 core and its cryptography (DH, PRF, key derivation, IKE ciphers).
