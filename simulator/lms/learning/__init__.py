"""LMS learning: courses and webinars, enrollments, learning activity, and the writeback it triggers."""
