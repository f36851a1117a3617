"""Column types shared by the models, with the MySQL variants the schema needs, and the status an
account, a provider or a model has."""

from enum import StrEnum

from sqlalchemy import Numeric, String, Text
from sqlalchemy.dialects import mysql


def exact_string(length: int) -> String:
    """A VARCHAR compared byte for byte on MySQL too, as on SQLite (MySQL's default collation
    folds case and accents, which would make uniqueness differ between the two databases)."""
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


# Message bodies: MySQL TEXT stops at 64 KB, far below a long answer.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# An amount of money (a price per million tokens, a cost): exact in the database, a float in Python.
Money = Numeric(18, 8, asdecimal=False)
# Prices and costs are in the currency the admin names on a model (ISO 4217: USD, CNY, …).
CURRENCY_DEFAULT = "USD"


# Every table on MySQL: InnoDB (transactions, foreign keys) and utf8mb4 (emoji, all of Chinese),
# whatever the server's defaults are.
MYSQL_TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


class Status(StrEnum):
    """Whether an account, a provider or a model may be used."""

    ACTIVE = "active"
    DISABLED = "disabled"
