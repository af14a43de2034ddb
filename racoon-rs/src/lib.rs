//! racoon-rs: IKEv1 daemon (driver, admin socket, kernel backends) and racoonctl.

pub mod admin;
pub mod cli;
pub mod ctl;
pub mod daemon;
