DROP TABLE assignment_counts;
