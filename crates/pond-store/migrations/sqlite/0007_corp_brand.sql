-- The brand customers see on the phone pages (landing and regional codes): a colour and a logo.
-- The brand name is the corp's name. Mirrored for both databases.
ALTER TABLE corps ADD COLUMN brand_color TEXT NOT NULL DEFAULT '#14784a';
ALTER TABLE corps ADD COLUMN brand_logo_url TEXT NOT NULL DEFAULT '';
