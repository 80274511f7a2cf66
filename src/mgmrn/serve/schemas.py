"""The JSON shapes of the serve API: request validation and the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# the candidate classes a photo is ranked among: the run's (seen and unseen), the classes
# defined on this server, or both
Among = Literal["run", "defined", "both"]
Value = Annotated[float, Field(allow_inf_nan=False)]


class Ranked(BaseModel):
    """One ranked class, as ``mgmrn predict --json`` gives it."""

    model_config = ConfigDict(populate_by_name=True)
    class_name: str = Field(alias="class")
    probability: float = Field(description="softmax over all candidate classes of the ranking scores divided by "
                                           "the run's temperature (fitted on its validation split)")
    score: float = Field(description="Eq. 14 score, less the run's gamma (eval.calibration's) for seen classes")
    seen: bool = Field(description="whether the class had training images")


class Prediction(BaseModel):
    top: list[Ranked]


class RunClass(BaseModel):
    name: str
    seen: bool


class DefinedClass(BaseModel):
    """A class described by its raw attribute values (attributes not named are 0)."""

    name: str = Field(description="1 to 200 characters, not all blank, no control characters, not . or .. "
                                  "(the same rules for classes from a CSV)")
    attributes: dict[str, Value]


class Definition(BaseModel):
    """Classes to define (a class of the same name is replaced)."""

    classes: list[DefinedClass] = Field(min_length=1)


class Classes(BaseModel):
    run: list[RunClass]
    defined: list[DefinedClass] = Field(description="raw non-zero attribute values of each defined class")
    max_defined: int = Field(description="how many classes may be defined on this server at once")


class Attributes(BaseModel):
    attributes: list[str] = Field(description="the model's attribute names, in its order")


class AttributePart(BaseModel):
    name: str
    contribution: float = Field(description="the attribute's part of the class's score")
    fused_share: list[float | None] = Field(description="per stage: share of attention on the SCAB tokens")


class Explanation(BaseModel):
    """The attention of every stage for the attributes that add most to one class's score."""

    model_config = ConfigDict(populate_by_name=True)
    class_name: str = Field(alias="class")
    score: float
    predicted: bool
    attributes: list[AttributePart]
    png: str = Field(description="the drawing of `mgmrn attention`, a base64 PNG")


class Health(BaseModel):
    status: Literal["ok"]


class Error(BaseModel):
    error: str = Field(description="the problem, in one line")
