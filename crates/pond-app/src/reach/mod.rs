//! Segmentation and reach (next): shared tags, segments from tags and behaviour (audience bitmaps
//! in an engine crate of their own), moments and mass messages with tracking, the chat sidebar.
