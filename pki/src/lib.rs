//! X.509 certificates, RSA keys and signatures for IKEv1 rsasig authentication.
