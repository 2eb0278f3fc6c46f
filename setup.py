"""The egg that ``scrapyd-deploy`` builds and uploads to Scrapyd.

Only the ``crawler`` package goes in (not ``sim``, ``tests``, ``bench``); its
dependencies are installed on the Scrapyd host from requirements.txt
(README "Production on Scrapyd"). The ``scrapy`` entry point names the settings module of
the jobs Scrapyd runs: the production profile, :mod:`crawler.scrapyd.settings`.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["crawler", "crawler.*"]),
    entry_points={"scrapy": ["settings = crawler.scrapyd.settings"]},
)
