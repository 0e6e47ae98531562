"""AMS writeback inbox: signed records from an LMS land on the member (CE transcript, activity, badges)."""
