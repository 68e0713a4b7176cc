"""Runner scripts: plain, typed Python functions that Hera runs in the project's image."""

from hera.workflows import script
from pydantic import BaseModel


class Dataset(BaseModel):
    """Where a dataset lives and how many rows it should have."""

    uri: str
    rows: int


@script(constructor="runner")
def validate_dataset(dataset: Dataset, min_rows: int = 1) -> str:
    """Fail unless the dataset is large enough; print its URI for the next step."""
    if dataset.rows < min_rows:
        raise ValueError(f"{dataset.uri} has {dataset.rows} rows, fewer than {min_rows}")
    return dataset.uri


@script(constructor="runner")
def dataset_stats(dataset: Dataset) -> str:
    """A one-line summary of a dataset."""
    return f"{dataset.uri}: {dataset.rows} rows"
