//! setkey-rs: the setkey command language, PF_KEY client side and output formats.
