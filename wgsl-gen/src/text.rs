//! A line writer: the Python generators collect lines in a list and join them with "\n" plus a
//! final "\n", which is the same as ending every pushed piece with "\n".

pub(crate) struct Out(String);

impl Out {
    pub(crate) fn new() -> Self {
        Out(String::new())
    }

    /// Appends `piece` (one line, or several joined by "\n") and a newline.
    pub(crate) fn w(&mut self, piece: impl AsRef<str>) {
        self.0.push_str(piece.as_ref());
        self.0.push('\n');
    }

    pub(crate) fn finish(self) -> String {
        self.0
    }
}
