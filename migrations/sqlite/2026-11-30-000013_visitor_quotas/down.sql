DROP TABLE visitor_quotas;
