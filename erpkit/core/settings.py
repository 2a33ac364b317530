"""Settings: environment variables first, then ``erpkit.toml``, then defaults.

Every problem a person can make in configuration is reported as a
:class:`ConfigError` whose message is one line that names the setting, so that
the CLI can print it and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_LOCALES = ("zh_CN", "en")


class ConfigError(Exception):
    """A configuration problem, described in one line for the person running erpkit."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("erpkit-data")
    database_url: str | None = None
    #: enabled plugin names; ``None`` means every installed plugin
    plugins: tuple[str, ...] | None = None
    secret_key: str | None = None
    admin_password: str | None = None
    default_locale: str = "zh_CN"
    #: failed logins per user name (and ten times that per client address) in the window
    login_max_failures: int = 5
    login_window_seconds: int = 900
    session_max_age_seconds: int = 14 * 24 * 3600
    cookie_secure: bool = False
    #: where the values came from, for error messages and ``erpkit plugins list``
    source: str = "defaults"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'erpkit.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        # asked on every request (erpkit.core.web.run_read): without resolving the path
        return not self.database_url or self.database_url.startswith("sqlite")

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_ENV = {
    "ERPKIT_DATA_DIR": "data_dir",
    "ERPKIT_DATABASE_URL": "database_url",
    "ERPKIT_PLUGINS": "plugins",
    "ERPKIT_SECRET_KEY": "secret_key",
    "ERPKIT_ADMIN_PASSWORD": "admin_password",
    "ERPKIT_DEFAULT_LOCALE": "default_locale",
    "ERPKIT_COOKIE_SECURE": "cookie_secure",
}
_TOML_KEYS = {
    "data_dir",
    "database_url",
    "plugins",
    "secret_key",
    "default_locale",
    "login_max_failures",
    "login_window_seconds",
    "session_max_age_seconds",
    "cookie_secure",
}


def load_settings(
    environ: dict[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Read settings from ``erpkit.toml`` (or ``$ERPKIT_CONFIG``) and the environment."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources = []
    path = config_file or Path(env.get("ERPKIT_CONFIG", "erpkit.toml"))
    if path.exists():
        values.update(_read_toml(path))
        sources.append(str(path))
    elif "ERPKIT_CONFIG" in env:
        raise ConfigError(f"config file {path} (ERPKIT_CONFIG) does not exist")
    for var, key in _ENV.items():
        if env.get(var, "") != "":
            values[key] = env[var]
            sources.append(var)
    values["source"] = ", ".join(sources) or "defaults"
    return _coerce(values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    section = doc.get("erpkit", doc)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [erpkit] must be a table")
    unknown = sorted(set(section) - _TOML_KEYS - {"extra"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    return dict(section)


def _coerce(values: dict[str, Any]) -> Settings:
    out: dict[str, Any] = {"source": values.pop("source", "defaults")}
    for key, value in values.items():
        if key == "data_dir":
            out[key] = Path(str(value)).expanduser()
        elif key == "plugins":
            if isinstance(value, str):
                names = [v.strip() for v in value.split(",")]
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                names = [v.strip() for v in value]
            else:
                raise ConfigError("plugins must be a list of names or a comma-separated string")
            out[key] = tuple(n for n in names if n)
        elif key == "database_url":
            out[key] = _check_db_url(str(value))
        elif key == "default_locale":
            if value not in SUPPORTED_LOCALES:
                raise ConfigError(
                    f"default_locale {value!r} is not one of {', '.join(SUPPORTED_LOCALES)}"
                )
            out[key] = value
        elif key in {"login_max_failures", "login_window_seconds", "session_max_age_seconds"}:
            try:
                out[key] = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be a whole number, not {value!r}") from None
            if out[key] <= 0:
                raise ConfigError(f"{key} must be greater than 0")
        elif key == "cookie_secure":
            out[key] = str(value).lower() in {"1", "true", "yes", "on"}
        elif key == "extra":
            out[key] = dict(value)
        else:
            out[key] = value if value is None else str(value)
    return Settings(**out)


def _check_db_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL {redact_url(url)!r} is not a valid URL") from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(
            f"database URL {redact_url(url)!r}: erpkit supports sqlite and postgresql only"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        # psycopg 3 is the driver erpkit installs; say so rather than fail on import.
        raise ConfigError(f"database URL {redact_url(url)!r}: use postgresql+psycopg://")
    return url


def redact_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url
