"""The model: geography, conflict, population, behaviour, movement, the Mesa Model, history, random streams."""
