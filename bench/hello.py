"""The limit: the smallest Flask app, served under the same gunicorn settings as ours.

gunicorn -w 2 -b 127.0.0.1:PORT --chdir bench hello:app
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
