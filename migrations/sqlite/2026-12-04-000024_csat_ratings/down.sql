DROP TABLE csat_ratings;
