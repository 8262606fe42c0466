-- Contacts imported from an old CRM export, with the declared types it used.
-- Each type maps by docs/TYPING.md, "Columns read from a table or view".
CREATE TABLE legacy_contacts (
  id INTEGER PRIMARY KEY,
  owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
  full_name NVARCHAR(100) NOT NULL,   -- CHAR  -> String
  nickname VARYING CHARACTER(40),     -- CHAR  -> String
  bio CLOB,                           -- CLOB  -> String
  phone CHARINT,                      -- INT before CHAR -> i64
  location POINT,                     -- contains INT -> i64
  lat FLOATING,                       -- FLOA  -> f64
  lng DOUBLE PRECISION,               -- DOUB  -> f64
  altitude FLOATING POINT,            -- contains INT -> i64
  credit MONEY,                       -- other -> f64
  discount NUMERIC(5,2),              -- other -> f64
  visits UNSIGNED BIG INT,            -- INT   -> i64
  age TINYINT,                        -- INT   -> i64
  starred Boolean NOT NULL DEFAULT 0, -- bool
  active bool,                        -- bool
  birthday date,                      -- String
  met_at DateTime,                    -- String
  last_call TIME(3),                  -- String
  lunch_at TIME,                      -- String
  profile JSON NOT NULL DEFAULT '{}', -- String
  contact_uuid uuid,                  -- String
  raw,                                -- no type -> Value
  extra ANY,                          -- not STRICT: other -> f64
  label STRING,                       -- other -> f64
  photo BLOB,                         -- Vec<u8>
  ratio REAL NOT NULL DEFAULT 1.0,    -- f64
  weight FLOAT,                       -- FLOA  -> f64
  remarks TEXT,                       -- String
  big INT8                            -- INT   -> i64
);
