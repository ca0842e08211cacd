mod chunked;
mod conv;
mod tape;
