"""Virtual patients for medical education: training cases, play, scoring, debrief, translations."""
