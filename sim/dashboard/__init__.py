"""The planners' dashboard (``idlibsim dashboard``): the Solara page, its views, the live Mesa page, the server."""
