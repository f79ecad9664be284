"""anywidget front ends (Python side) and the array-to-buffer payload code."""
