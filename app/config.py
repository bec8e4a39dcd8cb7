"""Settings for the entry points: built-in default < config file (TOML) < RAGQA_* env < flag.

Only the CLI, the UI and the API read this; each stage gets its own group, whole
(`settings.ingest`, `settings.retrieval`, `settings.generation`, `settings.eval`,
`settings.api`).

    s = load_settings(Path("ragqa.toml"), {"k": 8})   # a flag given on the command line
    s.retrieval.k, s.retrieval.mode
    # (8, 'hybrid')

Users name a setting by its flat name everywhere: `k = 8` in the file (top level, under
`[ragqa]`, or in its group's table such as `[retrieval]`), `RAGQA_K=8`, `--k 8`. A flat name
that several groups share (`device`) sets it in each. pydantic-settings merges the layers.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from eval.settings import EvalSettings
from generation.settings import GenerationSettings
from ingest.core.errors import RagqaError
from ingest.settings import IngestSettings
from ingest.store import parse_location
from retrieval.settings import RetrievalSettings

ENV_PREFIX = "RAGQA_"


class AppSettings(BaseModel):
    """What the CLI and the chat UI themselves use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(8501, gt=0, lt=65536)
    feedback_db: Path | None = Field(None, description="None: feedback.sqlite3 beside the "
                                     "index folder")
    upload_max_mb: int = Field(50, gt=0, description="largest file the app accepts")
    stream: bool = True
    host: str = Field("localhost", description="address the chat UI listens on; anything but "
                      "loopback needs accounts and a sign-in")
    sign_in: Literal["auto", "always"] = Field(
        "auto", description="auto: sign-in when the UI listens beyond loopback; always: on "
        "loopback too")
    accounts: Path | str | None = Field(
        None, description="where users, roles and the trail live (a SQLite file or a "
        "postgresql:// URL); None: ragqa-accounts.sqlite3 beside the index folders, or the "
        "PostgreSQL index's own database")

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts_location(cls, value: Any) -> Any:
        return parse_location(value) if isinstance(value, str | Path) else value


class ApiSettings(BaseModel):
    """What `ragqa serve`, the HTTP API, uses (docs/architecture.md, "The HTTP API")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_host: str = Field("127.0.0.1", description="address to listen on; anything but "
                          "loopback needs API keys")
    api_port: int = Field(8000, gt=0, lt=65536)
    api_keys_file: Path | None = Field(None, description="TOML file of hashed API keys "
                                       "(`ragqa api-key` writes entries)")
    api_keys: str | None = Field(None, description="the same entries as a JSON list "
                                 "(RAGQA_API_KEYS)")
    api_queue_size: int = Field(8, ge=0, description="chat requests that may wait for the LLM "
                                "behind the one it answers; more get 429")
    api_parallel_generations: int | None = Field(
        None, gt=0, description="answers generated at once (None: 1 for a model in this "
        "process, 8 for an openai: server, which batches them)")
    api_timeout_s: float = Field(120.0, gt=0, description="a request's limit, waiting "
                                 "included (then 504)")
    api_upload_max_mb: int = Field(50, gt=0, description="largest upload request")
    api_retrieval_threads: int = Field(4, gt=0, description="retrieval requests served at "
                                       "once")


class Settings(BaseSettings):
    """Every setting, one group per stage; build it with `load_settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # An index directory, or a postgresql:// URL (`ingest.store.parse_location`).
    index: Path | str = Path("indexes/default")
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    generation: GenerationSettings = GenerationSettings()
    eval: EvalSettings = EvalSettings()
    app: AppSettings = AppSettings()
    api: ApiSettings = ApiSettings()

    @field_validator("index", mode="before")
    @classmethod
    def _location(cls, value: Any) -> Any:
        # A URL must stay a string: Path("postgresql://h/db") would collapse its "//".
        return parse_location(value) if isinstance(value, str | Path) else value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        # Only what is passed in: `load_settings` adds the file and RAGQA_* layers.
        return (init_settings,)


class ConfigError(RagqaError):
    """A config file, environment variable or flag has a value ragqa cannot use."""


def _flat_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()
                ) -> dict[str, list[tuple[str, ...]]]:
    """Flat setting name -> where it lives in the nested groups (one or more places)."""
    paths: dict[str, list[tuple[str, ...]]] = {}
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            for flat, where in _flat_paths(kind, (*prefix, name)).items():
                paths.setdefault(flat, []).extend(where)
        else:
            paths.setdefault(name, []).append((*prefix, name))
    return paths


FLAT_NAMES = _flat_paths(Settings)
GROUPS = tuple(n for n, f in Settings.model_fields.items()
               if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))
# Every name on the way to a setting (`retrieval`, `generation`, `model`, ...): not what a
# user calls it.
_PATH_NAMES = frozenset(part for paths in FLAT_NAMES.values() for path in paths
                        for part in path[:-1])


def nest(flat: dict[str, Any], where: str) -> dict[str, Any]:
    """Flat names (`k`, `chunk-size`) and group tables (`{"retrieval": {...}}`) -> the nested
    layout of `Settings`. Raises ConfigError naming an unknown key and `where` it came from."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        name = key.replace("-", "_")
        if name in GROUPS and isinstance(value, dict):
            for inner, inner_value in value.items():
                _put(out, name.lower(), inner, inner_value, where)
            continue
        _put(out, None, name, value, where)
    return out


def _put(out: dict, group: str | None, key: str, value: Any, where: str) -> None:
    name = key.replace("-", "_")
    paths = [p for p in FLAT_NAMES.get(name, []) if group is None or p[0] == group]
    if not paths:
        raise ConfigError(f"{key!r} is not a ragqa setting ({where})")
    for path in paths:
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value


def _deep_merge(base: dict, top: dict) -> dict:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _TomlSource(PydanticBaseSettingsSource):
    """The config file: top-level keys, a [ragqa] table, or group tables."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field, field_name):  # the whole file is read in __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = tomllib.loads(Path(self.path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {self.path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {self.path} is not valid TOML: {exc}") from None
        table = data.get("ragqa", data)
        return nest(table, f"config file {self.path}")


class _EnvSource(PydanticBaseSettingsSource):
    """RAGQA_<FLAT_NAME> variables; an unknown RAGQA_ name is an error, not silence."""

    def __init__(self, settings_cls: type[BaseSettings], environ: dict[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field, field_name):
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.environ.items():
            if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
                continue
            name = key[len(ENV_PREFIX):].lower()
            if name not in FLAT_NAMES:
                raise ConfigError(f"environment variable {key} is not a ragqa setting")
            # pydantic converts "8" -> 8 and "true" -> True; thresholds are "f1=40 em=10".
            parsed = parse_thresholds(value.split()) if name == "fail_under" else value
            out = _deep_merge(out, nest({name: parsed}, f"environment variable {key}"))
        return out


def load_settings(config_file: Path | None, flags: dict[str, Any],
                  environ: dict[str, str] | None = None) -> Settings:
    """Merges the four layers; `flags` with value None were not given and do not count."""
    environ = dict(os.environ) if environ is None else environ
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(environ[ENV_PREFIX + "CONFIG"])
    given = nest({k: v for k, v in flags.items() if v is not None}, "flag")

    class _Layered(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                       dotenv_settings, file_secret_settings):
            # First wins: flags, then the environment, then the file, then the defaults.
            return (init_settings, _EnvSource(settings_cls, environ),
                    _TomlSource(settings_cls, config_file))

    try:
        layered = _Layered(**given)
    except ValidationError as exc:
        raise _config_error(exc, config_file) from None
    return Settings.model_validate(layered.model_dump())


def with_overrides(settings: Settings, **flat: Any) -> Settings:
    """A validated copy with flat-named changes (`k=3`, `chunk_size=400`)."""
    merged = _deep_merge(settings.model_dump(), nest(flat, "override"))
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise _config_error(exc, None) from None


def flat_value(settings: BaseModel, name: str) -> Any:
    """A setting by its flat name (`k`, `llm`), read from the first group that holds it."""
    node: Any = settings
    for part in FLAT_NAMES[name][0]:
        node = getattr(node, part)
    return node


def _config_error(exc: ValidationError, config_file: Path | None) -> ConfigError:
    err = exc.errors()[0]
    # The user's name for the setting: the flat one, not the group path.
    names = [str(p) for p in err["loc"] if str(p) not in _PATH_NAMES]
    field = ".".join(names) or "settings"
    where = f" (config file {config_file})" if config_file else ""
    return ConfigError(f"setting {field!r}: {err['msg']}{where}")


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """`["f1=40", "hit@5=80"]` -> `{"f1": 40.0, "hit@5": 80.0}`."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip().lower()] = float(value)
        except ValueError:
            raise ConfigError(
                f"--fail-under expects METRIC=VALUE (like f1=40), not {item!r}"
            ) from None
    return out
