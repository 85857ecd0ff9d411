"""A task and a repository to build prompts from, and `build` with the defaults
the prompt-builder tests use."""

from __future__ import annotations

from app.tasks.issue_spec import TaskSpec
from prompts.builder import Prompt, PromptOptions, build_prompt
from prompts.repository import RepoContext

TASK = TaskSpec(
    title="Export the table as CSV",
    description="The export button should produce a CSV of the visible rows.",
    requirements=(
        'Add an "Export CSV" button to the table toolbar',
        "Export only the rows that match the current filter",
        "Name the file after the table",
    ),
    acceptance_criteria=(
        "Clicking the button downloads `widgets.csv`",
        "The file has a header row",
    ),
    priority="high",
    estimated_complexity="low",
)


REPO = RepoContext(
    full_name="octo-org/widgets",
    description="Widget tables for the back office",
    default_branch="trunk",
    languages={"TypeScript": 7000, "Python": 2000, "CSS": 1000},
    top_level=(".github/", "src/", "tests/", "README.md", "package.json", "pyproject.toml"),
    readme="# Widgets\n\nRun `npm start` to serve the tables.\n",
    contributing="Use conventional commits. Every change needs a test in tests/.\n",
    manifests={
        "pyproject.toml": '[project]\nname = "widgets-api"\ndependencies = ["httpx"]\n',
        "package.json": '{"name": "widgets", "dependencies": {"react": "^18.2.0"}}\n',
    },
)


URL = "https://github.com/octo-org/widgets/issues/42"


def build(
    task: TaskSpec = TASK,
    repo: RepoContext = REPO,
    options: PromptOptions | None = None,
    **kwargs,
) -> Prompt:
    return build_prompt(
        task,
        issue_number=42,
        issue_url=URL,
        requester="reporter-rae",
        repo=repo,
        options=options or PromptOptions(),
        **kwargs,
    )
