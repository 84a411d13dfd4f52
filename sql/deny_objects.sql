-- Under deny: sequences cannot be advanced or set, large objects cannot be
-- read or written, and the statistics catalogs (which hold samples of
-- table contents) are not readable; other catalogs stay open.
CREATE SEQUENCE regress_do_invoice_no;
SELECT lo_from_bytea(424242, 'secret payroll');
CREATE ROLE regress_do_intern;
CREATE ROLE regress_do_app;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE regress_do_invoice_no TO regress_do_intern, regress_do_app;
GRANT SELECT ON LARGE OBJECT 424242 TO regress_do_intern;
GRANT UPDATE ON LARGE OBJECT 424242 TO regress_do_intern;
CREATE TABLE regress_do_t (id int, secret text);
INSERT INTO regress_do_t SELECT g, 'v' || g FROM generate_series(1, 100) g;
ANALYZE regress_do_t;
GRANT SELECT ON regress_do_t TO regress_do_intern;
SELECT primary_guard.set_policy('regress_do_intern', 'deny');

SET ROLE regress_do_intern;
SELECT nextval('regress_do_invoice_no');
SELECT setval('regress_do_invoice_no', 100);
SELECT setval('regress_do_invoice_no', 100, false);
-- currval and lastval read only the session's own state.
SELECT currval('regress_do_invoice_no');
SELECT lo_get(424242);
SELECT lo_get(424242, 0, 3);
SELECT lo_put(424242, 0, 'x');
SELECT lo_from_bytea(0, 'new');
SELECT lo_open(424242, 262144);
-- Inside a function, too.
DO $$ BEGIN PERFORM nextval('regress_do_invoice_no'); END $$;
-- pg_stats shows most common values of the tables the role may read.
SELECT count(*) FROM pg_stats WHERE tablename = 'regress_do_t';
-- Other catalogs stay open.
SELECT count(*) > 0 AS catalogs_open FROM pg_class;
SELECT primary_guard.server_state();
RESET ROLE;

-- Nothing changed.
SELECT last_value, is_called FROM regress_do_invoice_no;
SELECT convert_from(lo_get(424242), 'UTF8');

-- A role without the policy is untouched.
SET ROLE regress_do_app;
SELECT nextval('regress_do_invoice_no');
RESET ROLE;

SELECT lo_unlink(424242);
SELECT primary_guard.drop_policy('regress_do_intern');
DROP TABLE regress_do_t;
DROP SEQUENCE regress_do_invoice_no;
DROP ROLE regress_do_intern, regress_do_app;
