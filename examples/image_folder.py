"""TensorFlow's "Image classification" tutorial (flowers), on a folder of images: the dataset
from the folder, data augmentation, the tutorial's model, training, then a prediction for one
new image. Ported by changing its imports; run it on any folder of class sub-folders:

    autoconv datasets export mnist digits --split train --limit 3000
    python examples/image_folder.py digits 28

Original: https://www.tensorflow.org/tutorials/images/classification
"""

import sys

import numpy as np

import autoconv as keras
from autoconv import layers

data_dir = sys.argv[1]
img_height = img_width = int(sys.argv[2]) if len(sys.argv) > 2 else 180
batch_size = 32

train_ds = keras.utils.image_dataset_from_directory(
    data_dir,
    validation_split=0.2,
    subset="training",
    seed=123,
    image_size=(img_height, img_width),
    batch_size=batch_size,
)
val_ds = keras.utils.image_dataset_from_directory(
    data_dir,
    validation_split=0.2,
    subset="validation",
    seed=123,
    image_size=(img_height, img_width),
    batch_size=batch_size,
)
class_names = train_ds.class_names
print(class_names)
new_image = val_ds.file_paths[0]  # (the tutorial downloads a sunflower photo here)

AUTOTUNE = keras.data.AUTOTUNE
train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=AUTOTUNE)
val_ds = val_ds.cache().prefetch(buffer_size=AUTOTUNE)

data_augmentation = keras.Sequential(
    [
        layers.RandomFlip("horizontal", input_shape=(img_height, img_width, 3)),
        layers.RandomRotation(0.1),
        layers.RandomZoom(0.1),
    ]
)

num_classes = len(class_names)
model = keras.Sequential(
    [
        data_augmentation,
        layers.Rescaling(1.0 / 255),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(0.2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(num_classes, name="outputs"),
    ]
)
model.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.summary()

epochs = 3
history = model.fit(train_ds, validation_data=val_ds, epochs=epochs)

img = keras.utils.load_img(new_image, target_size=(img_height, img_width))
img_array = keras.utils.img_to_array(img)
img_array = np.expand_dims(img_array, 0)  # Create a batch

predictions = model.predict(img_array)
score = keras.ops.softmax(predictions[0])
print(
    f"This image most likely belongs to {class_names[np.argmax(score)]} with a "
    f"{100 * np.max(score):.2f} percent confidence."
)
