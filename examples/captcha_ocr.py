"""keras-io's "OCR model for reading Captchas": a convnet and two bidirectional LSTMs read the
text of captcha images, trained with the CTC loss added by an endpoint layer, and decoded with
``ops.ctc_decode``; ported by its imports.

Original: https://keras.io/examples/vision/captcha_ocr/ (A_K_Nain; Keras 3 by Sitam Meur).
keras-io computes its CTC loss with TensorFlow's ``ctc_loss`` and reads its images with
``tf.io``; here they are ``ops.ctc_loss`` (the blank the last class, as TensorFlow's) and
``utils.load_img``, mapped over an ``autoconv.data.Dataset``. Run:
``python examples/captcha_ocr.py FOLDER [--epochs 100]`` where FOLDER holds the captchas as
PNG files named by their text (captcha_images_v2's layout).
"""

import argparse
import os
from pathlib import Path

import numpy as np

import autoconv as keras
from autoconv import layers, ops

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("folder", help="PNG files named by the text they show")
parser.add_argument("--epochs", type=int, default=100)
args = parser.parse_args()

# Path to the data directory
data_dir = Path(args.folder)

# Get list of all the images
images = sorted(list(map(str, list(data_dir.glob("*.png")))))
labels = [img.split(os.path.sep)[-1].split(".png")[0] for img in images]
characters = set(char for label in labels for char in label)
characters = sorted(list(characters))

print("Number of images found: ", len(images))
print("Number of labels found: ", len(labels))
print("Number of unique characters: ", len(characters))
print("Characters present: ", characters)

# Batch size for training and validation
batch_size = 16

# Desired image dimensions
img_width = 200
img_height = 50

# Factor by which the image is going to be downsampled by the convolutional blocks: two
# blocks, each with a pooling layer which downsamples the features by a factor of 2.
downsample_factor = 4

# Maximum length of any captcha in the dataset
max_length = max([len(label) for label in labels])

# Mapping characters to integers
char_to_num = layers.StringLookup(vocabulary=list(characters), mask_token=None)

# Mapping integers back to original characters
num_to_char = layers.StringLookup(
    vocabulary=char_to_num.get_vocabulary(), mask_token=None, invert=True
)


def split_data(images, labels, train_size=0.9, shuffle=True):
    # 1. Get the total size of the dataset
    size = len(images)
    # 2. Make an indices array and shuffle it, if required
    indices = np.arange(size)
    if shuffle:
        # keras.random.shuffle returns the shuffled indices (keras-io's call drops them)
        indices = keras.random.shuffle(indices).numpy().astype("int64")
    # 3. Get the size of training samples
    train_samples = int(size * train_size)
    # 4. Split data into training and validation sets
    x_train, y_train = images[indices[:train_samples]], labels[indices[:train_samples]]
    x_valid, y_valid = images[indices[train_samples:]], labels[indices[train_samples:]]
    return x_train, x_valid, y_train, y_valid


# Splitting data into training and validation sets
x_train, x_valid, y_train, y_valid = split_data(np.array(images), np.array(labels))


def encode_single_sample(img_path, label):
    # 1. Read the image as grayscale
    img = keras.utils.load_img(str(img_path), color_mode="grayscale")
    # 2. Convert to float32 in [0, 1] range
    img = keras.utils.img_to_array(img) / 255.0
    # 3. Resize to the desired size
    img = ops.image.resize(img, [img_height, img_width]).numpy()
    # 4. Transpose the image because we want the time dimension to correspond to the width of
    # the image.
    img = np.transpose(img, axes=[1, 0, 2])
    # 5. Map the characters in label to numbers
    label = char_to_num(np.array(list(str(label)))).astype("float32")
    # 6. Return a dict as our model is expecting two inputs
    return {"image": img, "label": label}


train_dataset = keras.data.Dataset.from_tensor_slices((x_train, y_train))
train_dataset = train_dataset.map(encode_single_sample).batch(batch_size).prefetch(2)

validation_dataset = keras.data.Dataset.from_tensor_slices((x_valid, y_valid))
validation_dataset = validation_dataset.map(encode_single_sample).batch(batch_size).prefetch(2)


def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    # keras-io's: TensorFlow's CTC of the log of the softmax's probabilities, the blank the
    # last class
    label_length = ops.squeeze(label_length, axis=-1)
    input_length = ops.squeeze(input_length, axis=-1)
    y_pred = ops.log(y_pred + keras.backend.epsilon())
    blank = y_pred.shape[-1] - 1
    loss = ops.ctc_loss(y_true, y_pred, label_length, input_length, mask_index=blank)
    return ops.expand_dims(loss, 1)


class CTCLayer(layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = ctc_batch_cost

    def call(self, y_true, y_pred):
        # Compute the training-time loss value and add it to the layer using
        # `self.add_loss()`.
        batch_len = ops.shape(y_true)[0]
        input_length = ops.shape(y_pred)[1]
        label_length = ops.shape(y_true)[1]

        input_length = input_length * ops.ones(shape=(batch_len, 1), dtype="int64")
        label_length = label_length * ops.ones(shape=(batch_len, 1), dtype="int64")

        loss = self.loss_fn(y_true, y_pred, input_length, label_length)
        self.add_loss(loss)

        # At test time, just return the computed predictions
        return y_pred


def build_model():
    # Inputs to the model
    input_img = layers.Input(shape=(img_width, img_height, 1), name="image", dtype="float32")
    labels = layers.Input(name="label", shape=(None,), dtype="float32")

    # First conv block
    x = layers.Conv2D(
        32, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
        name="Conv1",
    )(input_img)  # fmt: skip
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)

    # Second conv block
    x = layers.Conv2D(
        64, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
        name="Conv2",
    )(x)  # fmt: skip
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)

    # We have used two max pool with pool size and strides 2. Hence, downsampled feature maps
    # are 4x smaller. The number of filters in the last layer is 64. Reshape accordingly
    # before passing the output to the RNN part of the model
    new_shape = ((img_width // 4), (img_height // 4) * 64)
    x = layers.Reshape(target_shape=new_shape, name="reshape")(x)
    x = layers.Dense(64, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.2)(x)

    # RNNs
    x = layers.Bidirectional(layers.LSTM(128, return_sequences=True, dropout=0.25))(x)
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True, dropout=0.25))(x)

    # Output layer
    x = layers.Dense(len(char_to_num.get_vocabulary()) + 1, activation="softmax", name="dense2")(x)

    # Add CTC layer for calculating CTC loss at each step
    output = CTCLayer(name="ctc_loss")(labels, x)

    # Define the model
    model = keras.models.Model(inputs=[input_img, labels], outputs=output, name="ocr_model_v1")
    # Optimizer
    opt = keras.optimizers.Adam()
    # Compile the model and return
    model.compile(optimizer=opt)
    return model


# Get the model
model = build_model()
model.summary()

epochs = args.epochs
early_stopping_patience = 10
# Add early stopping
early_stopping = keras.callbacks.EarlyStopping(
    monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
)

# Train the model
history = model.fit(
    train_dataset,
    validation_data=validation_dataset,
    epochs=epochs,
    callbacks=[early_stopping],
)

# Get the prediction model by extracting layers till the output layer
prediction_model = keras.models.Model(model.input[0], model.get_layer(name="dense2").output)
prediction_model.summary()


# A utility function to decode the output of the network
def decode_batch_predictions(pred):
    input_len = np.ones(pred.shape[0]) * pred.shape[1]
    # Use greedy search. For complex tasks, you can use beam search. The blank is the last
    # class, as in the loss (keras-io's decoder is left at its default, class 0, which here
    # is the StringLookup's [UNK])
    blank = pred.shape[-1] - 1
    results = ops.ctc_decode(pred, sequence_lengths=input_len, mask_index=blank)[0][0]
    # Keep only up to max_length; -1 is no character (keras-io's sparse-to-dense default)
    results = results[:, :max_length]
    # Iterate over the results and get back the text
    output_text = []
    for res in results:
        output_text.append("".join(num_to_char(res[res >= 0])))
    return output_text


# Let's check results on some validation samples
for batch in validation_dataset.take(1):
    batch_images = batch["image"]
    batch_labels = batch["label"]

    preds = prediction_model.predict(batch_images)
    pred_texts = decode_batch_predictions(preds)

    orig_texts = ["".join(num_to_char(label.astype("int64"))) for label in batch_labels]
    for original, predicted in zip(orig_texts, pred_texts, strict=True):
        print(f"{original} -> {predicted}")
