"""Packaging for ddim_nb: everything is read from settings.ini, the single source nbdev uses."""
from configparser import ConfigParser
from setuptools import find_packages, setup

config = ConfigParser(delimiters=["="])
config.read("settings.ini", encoding="utf-8")
cfg = config["DEFAULT"]

def requirements(key):
    "The space-separated requirement list stored under `key` in settings.ini."
    return cfg.get(key, "").split()

licenses = {"apache2": ("Apache Software License 2.0", "OSI Approved :: Apache Software License")}
license_name, license_classifier = licenses[cfg["license"]]
statuses = ["1 - Planning", "2 - Pre-Alpha", "3 - Alpha", "4 - Beta", "5 - Production/Stable", "6 - Mature", "7 - Inactive"]

setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    url=cfg["git_url"],
    author=cfg["author"],
    author_email=cfg["author_email"],
    license=license_name,
    keywords=cfg["keywords"],
    classifiers=[
        "Development Status :: " + statuses[int(cfg["status"])],
        "Intended Audience :: " + cfg["audience"].title(),
        "License :: " + license_classifier,
        "Natural Language :: " + cfg["language"].title(),
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    packages=find_packages(include=[cfg["lib_name"], cfg["lib_name"] + ".*"]),
    include_package_data=True,
    package_data={cfg["lib_name"]: ["flower_features.npz"]},  # the flower network's trained weights (notebook 02a)
    python_requires=">=" + cfg["min_python"],
    install_requires=requirements("requirements"),
    extras_require={
        "dev": requirements("dev_requirements"),
        "cuda": requirements("cuda_requirements"),
        "docs": requirements("docs_requirements"),
    },
    entry_points={
        "console_scripts": cfg.get("console_scripts", "").split(),
        "nbdev": [f'{cfg["lib_name"]}={cfg["lib_name"]}._modidx:d'],
    },
    zip_safe=False,
)
