//! racoon-rs: IKEv1 daemon (driver, admin socket, kernel backends).

pub mod cli;
