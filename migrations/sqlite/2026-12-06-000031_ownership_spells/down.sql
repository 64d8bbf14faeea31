DROP TABLE ownership_spells;
